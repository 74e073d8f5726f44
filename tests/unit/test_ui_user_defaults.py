"""Per-user default checkpoint in the UI: read and saved in the same per-user store the API's options use."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from modules.core.settings import UserSettingsStore
from modules.ui.user_defaults import KEY, account_of, connect, save_checkpoint, saved_checkpoint


@dataclass(frozen=True)
class Info:
    name: str
    sha: str
    usable: bool = True

    @property
    def title(self) -> str:
        return f"{self.name} [{self.sha}]"


class Checkpoints:
    def __init__(self, *infos: Info) -> None:
        self.infos = list(infos)

    def find(self, query: str):
        return next((i for i in self.infos if query in (i.name, i.title)), None)


@pytest.fixture
def services(tmp_path):
    checkpoints = Checkpoints(Info("tiny-a", "aaaa"), Info("tiny-b", "bbbb"), Info("broken", "cccc", usable=False))
    return SimpleNamespace(models=SimpleNamespace(checkpoints=checkpoints),
                           user_settings=UserSettingsStore(tmp_path / "user-settings.json"))


def test_account_of_only_for_a_logged_in_user():
    assert account_of(SimpleNamespace(username="alice", session_hash="x")) == "alice"
    assert account_of(SimpleNamespace(username=None, session_hash="x")) is None
    assert account_of(None) is None


def test_each_user_gets_their_own_saved_default(services):
    assert save_checkpoint(services, "alice", "tiny-b [bbbb]")
    assert saved_checkpoint(services, "alice") == "tiny-b [bbbb]"
    assert saved_checkpoint(services, "bob") is None  # bob keeps the server's default
    assert save_checkpoint(services, "bob", "tiny-a [aaaa]")
    assert saved_checkpoint(services, "alice") == "tiny-b [bbbb]"
    # Stored by name, the value the API's POST /sdapi/v1/options stores (and reads back as a title).
    assert services.user_settings.get("alice") == {KEY: "tiny-b"}


def test_the_api_and_the_ui_share_the_value(services):
    services.user_settings.update("alice", {KEY: "tiny-b", "sd_vae": "Automatic"})  # as POST options does
    assert saved_checkpoint(services, "alice") == "tiny-b [bbbb]"
    save_checkpoint(services, "alice", "tiny-a [aaaa]")
    assert services.user_settings.get("alice") == {KEY: "tiny-a", "sd_vae": "Automatic"}  # other options kept


def test_nothing_is_saved_without_login_or_for_an_unusable_choice(services):
    assert not save_checkpoint(services, None, "tiny-b [bbbb]")
    assert not save_checkpoint(services, "alice", "broken [cccc]")
    assert not save_checkpoint(services, "alice", "gone [dddd]")
    assert not save_checkpoint(services, "alice", None)
    assert services.user_settings.get("alice") == {}
    assert not (services.user_settings.path).exists()


def test_a_default_removed_from_disk_falls_back_to_the_server_default(services):
    services.user_settings.update("alice", {KEY: "deleted-model"})
    assert saved_checkpoint(services, "alice") is None
    services.user_settings.update("alice", {KEY: "broken"})
    assert saved_checkpoint(services, "alice") is None


def test_connect_loads_on_page_load_and_saves_on_user_input(services):
    import gradio as gr

    with gr.Blocks() as demo:
        dropdown = gr.Dropdown(["tiny-a [aaaa]", "tiny-b [bbbb]"], value="tiny-a [aaaa]")
        connect(services, dropdown)

        def reference() -> None:
            """What a page-load event looks like in this Gradio, to compare with."""

        demo.load(reference)
    page_load = next(dep.targets[0] for dep in demo.fns.values() if dep.fn is reference)
    by_trigger = {}
    for dep in demo.fns.values():
        if dep.fn is not reference:
            for block_id, event in dep.targets:
                by_trigger[event] = (block_id, dep)
    assert (by_trigger["load"][0], "load") == page_load
    assert by_trigger["input"][0] == dropdown._id  # a pick by the user; `change` would also fire on Send-to
    assert "change" not in by_trigger
    on_load, on_pick = by_trigger["load"][1].fn, by_trigger["input"][1].fn
    alice, bob = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
    on_pick("tiny-b [bbbb]", alice)
    assert on_load(alice)["value"] == "tiny-b [bbbb]"
    assert "value" not in on_load(bob)  # bob's dropdown keeps the server default
    assert "value" not in on_load(SimpleNamespace(username=None))
