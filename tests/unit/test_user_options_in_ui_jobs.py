"""A user's A1111 settings (set through /sdapi/v1/options) act on the jobs they start from the UI too, and never
on another user's."""

from __future__ import annotations

from types import SimpleNamespace

from modules.core.requests import GenerationRequest, RequestError
from modules.core.settings import UserSettingsStore


def test_the_ui_submits_with_the_users_own_a1111_settings(tmp_path):
    from modules.ui.jobstream import follow

    store = UserSettingsStore(tmp_path / "user-settings.json")
    store.update("alice", {"eta_noise_seed_delta": 31337, "img2img_color_correction": True, "send_seed": False})
    submitted: list[tuple[str, GenerationRequest]] = []

    def submit(request, user):
        submitted.append((user, request))
        raise RequestError("stop here")  # the stream reports it and ends: nothing else of the app is needed

    services = SimpleNamespace(user_settings=store, submit=submit,
                               jobs=SimpleNamespace(current_of=lambda user: None))  # no job of theirs runs
    for user in ("alice", "bob"):
        updates = list(follow(services, GenerationRequest(prompt="x", mode="img2img"), user))
        assert updates  # the error was reported
    (_, alice), (_, bob) = submitted
    assert alice.eta_noise_seed_delta == 31337 and alice.color_correction is True
    assert bob.eta_noise_seed_delta == 0 and bob.color_correction is False
