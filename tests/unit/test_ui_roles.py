"""Who may change what everyone shares from the UI: an admin; without accounts, the one local user."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from modules.service.accounts import Account, Accounts, _memory_hash
from modules.ui.roles import admin_only, may_administer, show_to_admins

ACCOUNTS = Accounts([Account("bob", _memory_hash("b")), Account("root", _memory_hash("r"), "admin")])


def request(user):
    return SimpleNamespace(username=user, session_hash="s")


def test_with_accounts_only_an_admin_administers():
    assert may_administer(ACCOUNTS, request("root"))
    assert not may_administer(ACCOUNTS, request("bob"))
    assert not may_administer(ACCOUNTS, request("mallory"))  # not an account at all
    assert not may_administer(ACCOUNTS, request(None))  # no login where logins exist: never


def test_without_accounts_the_local_user_administers_as_before():
    assert may_administer(None, request(None)) and may_administer(Accounts(), request(None))
    # A logged-in name nobody can vouch for (accounts not handed to the UI) is refused, not trusted.
    assert not may_administer(None, request("bob")) and not may_administer(Accounts(), request("root"))


def test_admin_only_runs_the_handler_for_an_admin_and_refuses_the_others():
    calls = []

    def save(name, value):
        calls.append((name, value))
        return "Saved."

    checked = admin_only(ACCOUNTS, save, "change the styles")
    assert checked.__name__ == "save"
    assert checked(request("root"), "a", 1) == "Saved."
    with pytest.raises(gr.Error, match="Only an admin can change the styles"):
        checked(request("bob"), "b", 2)
    assert calls == [("a", 1)]
    assert admin_only(None, save, "change the styles")(request(None), "c", 3) == "Saved."


def test_gradio_passes_the_request_to_the_checked_handler():
    from gradio.helpers import special_args

    checked = admin_only(ACCOUNTS, lambda text: text, "do it")
    inputs, *_ = special_args(checked, ["hello"], gr.Request(username="root"))
    assert inputs[0].username == "root" and inputs[1] == "hello"


def test_admin_parts_are_shown_on_page_load_only_to_who_may_use_them():
    with gr.Blocks() as demo:
        editor = gr.Textbox(visible=False)
        note = gr.Markdown("read only", visible=False)
        show_to_admins(ACCOUNTS, [editor], [note])
    [load] = [d for d in demo.fns.values() if d.targets and d.targets[0][1] == "load"]
    assert [u["visible"] for u in load.fn(request("root"))] == [True, False]
    assert [u["visible"] for u in load.fn(request("bob"))] == [False, True]
