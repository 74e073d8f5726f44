"""Who may change what everyone shares, in the UI: the server's settings, the extensions, the styles file.

With accounts, only an admin may; without accounts (a local single-user instance) the one local user may, as
before. Each handler that changes shared state checks the caller itself (`admin_only`): Gradio serves every event
to whoever is logged in, whatever the page shows. Hiding what a user may not do (`show_to_admins`) only spares
them buttons that would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui.user_defaults import account_of

if TYPE_CHECKING:
    from modules.service.accounts import Accounts


def may_administer(accounts: Accounts | None, request: Any) -> bool:
    """True for an admin, or for the local user of an instance without accounts.

    Fails closed: a logged-in name that no accounts confirm as admin (or no name where accounts exist) may not."""
    name = account_of(request)
    enabled = accounts is not None and accounts.enabled
    if name is None:
        return not enabled
    return enabled and accounts.is_admin(name)  # type: ignore[union-attr]


def refusal(what: str) -> str:
    return f"Only an admin can {what}: it changes the server for everyone. Ask an admin, or log in as one."


def admin_only(accounts: Accounts | None, handler: Callable[..., Any], what: str) -> Callable[..., Any]:
    """`handler`, run only for who `may_administer`; anyone else gets an error saying who may (`what` names the
    action, e.g. "change the styles"). The wrapper takes the request first, so Gradio passes it."""

    def checked(request: gr.Request, *values: Any) -> Any:
        if not may_administer(accounts, request):
            raise gr.Error(refusal(what))
        return handler(*values)

    # Named after the handler (Gradio's API names), but not functools.wraps: Gradio must read this function's own
    # signature and annotations to pass it the request.
    checked.__name__ = getattr(handler, "__name__", "admin_only")
    checked.__qualname__ = getattr(handler, "__qualname__", checked.__name__)
    checked.__doc__ = handler.__doc__
    return checked


def show_to_admins(accounts: Accounts | None, admin_parts: Sequence[Any], others: Sequence[Any] = ()) -> None:
    """On page load, show `admin_parts` only to who `may_administer` and `others` (a read-only note) only to the
    rest. Build both hidden (visible=False): nothing flashes before the page knows who is looking."""
    from gradio.context import Context

    parts = [*admin_parts, *others]
    if not parts:
        return
    if Context.root_block is None:
        raise RuntimeError("show_to_admins must be called while the gr.Blocks app is being built")

    def on_load(request: gr.Request) -> Any:
        admin = may_administer(accounts, request)
        # One update per component (Gradio consumes each dict it is given); a lone output takes a bare value.
        updates = [gr.update(visible=admin) for _ in admin_parts] + [gr.update(visible=not admin) for _ in others]
        return updates[0] if len(updates) == 1 else updates

    # The Blocks being built, as user_defaults.connect does (tab builders are not handed it).
    Context.root_block.load(on_load, inputs=None, outputs=parts, queue=False)
