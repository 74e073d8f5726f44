"""A logged-in user's default checkpoint in the txt2img and img2img dropdowns.

It is the value /sdapi/v1/options keeps per user (UserSettingsStore's "sd_model_checkpoint"), so a user's
browser and their API clients agree, and one user's choice never moves another user's dropdown. Without
accounts there is no lasting identity (each browser session is its own user), so nothing is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.service.services import Services

KEY = "sd_model_checkpoint"  # A1111's option name, shared with the API


def account_of(request: Any) -> str | None:
    """The logged-in account, or None without login (a session hash would only clutter the store)."""
    return getattr(request, "username", None) or None


def saved_checkpoint(services: Services, user: str | None) -> str | None:
    """The dropdown title of the user's saved default; None when there is none or it is no longer usable."""
    if not user:
        return None
    name = services.user_settings.get(user).get(KEY)
    info = services.models.checkpoints.find(name) if name else None
    return info.title if info is not None and info.usable else None


def save_checkpoint(services: Services, user: str | None, choice: str | None) -> bool:
    """Store the chosen checkpoint as the user's default (by name, as the API does: titles gain a hash later)."""
    if not user or not choice:
        return False
    info = services.models.checkpoints.find(choice)
    if info is None or not info.usable:
        return False
    if services.user_settings.get(user).get(KEY) != info.name:
        services.user_settings.update(user, {KEY: info.name})
    return True


def connect(services: Services, dropdown: Any) -> None:
    """On page load, show the user's default; when the user picks a checkpoint, save it as their default."""

    def on_load(request: gr.Request) -> Any:
        title = saved_checkpoint(services, account_of(request))
        return gr.update(value=title) if title else gr.update()

    def on_pick(choice: str | None, request: gr.Request) -> None:
        save_checkpoint(services, account_of(request), choice)

    # The Blocks being built, which tab builders are not handed. Not `gr.on(None, ...)`: in Gradio 6.31 its
    # page-load target is block id 0, which is the app's Blocks only when it happens to be the first one built.
    from gradio.context import Context

    if Context.root_block is None:
        raise RuntimeError("user_defaults.connect must be called while the gr.Blocks app is being built")
    Context.root_block.load(on_load, inputs=None, outputs=[dropdown], queue=False)
    # `input`, not `change`: values sent from PNG Info or History are one-off, not a new default.
    dropdown.input(on_pick, inputs=[dropdown], outputs=None, queue=False)
