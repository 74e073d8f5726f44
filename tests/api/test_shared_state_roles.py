"""A plain user (bob) changes nothing that everyone shares: not through any Gradio event, not through any REST route.

The whole app is built as webui.py builds it (API, UI, the shipped extensions from a copy of extensions/), with
accounts alice and bob (users) and root (admin). Every event of the UI and every route of the API is called as
bob with hostile values (paths to a .pth file, `../..` paths, git URLs, huge numbers); what everyone shares is
snapshotted before and compared after: the settings file, extension settings, which extensions load, the
extensions folder, the styles file, other users' outputs and per-user settings.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from modules.engine.devices import DeviceConfig
from tests.api.conftest import basic, make_accounts
from tests.api.test_history_api import save

REPO_ROOT = Path(__file__).resolve().parents[2]
GIT_URL = "https://example.invalid/owner/evil-ext.git"
EVIL_EXTENSION = "API_VERSION = 1\n\ndef setup(api):\n    raise SystemExit('bob runs code here')\n"


class FakeGit:
    """Stands in for `git clone`: makes the clone an extension that would run code at the next start."""

    def __init__(self) -> None:
        self.clones: list[list[str]] = []
        self._run = subprocess.run

    def __call__(self, command, *args, **kwargs):
        if command[:2] != ["git", "clone"]:
            return self._run(command, *args, **kwargs)
        self.clones.append(list(command))
        target = Path(command[-1])
        target.mkdir(parents=True)
        (target / "extension.py").write_text(EVIL_EXTENSION, encoding="utf-8")
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture(scope="module")
def studio(tiny_models_dir, tmp_path_factory):
    """The served app with accounts and the shipped extensions; (base folder, services, demo, FastAPI app)."""
    from modules.api.app import build_app
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services, start_extensions
    from modules.ui.app import build_ui, mount_ui

    base = tmp_path_factory.mktemp("studio")
    shutil.copytree(REPO_ROOT / "extensions", base / "extensions", ignore=shutil.ignore_patterns("__pycache__"))
    settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(base / "outputs"),
                                   "--settings-file", str(base / "settings.json"),
                                   "--extensions-dir", str(base / "extensions")])
    accounts = make_accounts()
    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = build_services(settings, device, per_user_outputs=True, accounts=accounts)
    start_extensions(services)
    # What others own, for bob to leave alone.
    services.ui_settings.update({"preview_every": 3, "default_negative_prompt": "blurry"})
    services.extensions.get("hello").api.settings.update({"greeting": "Hi, {name}"})
    services.jobs.preview_every = 3
    services.user_settings.update("alice", {"sd_model_checkpoint": "tiny-a"})
    services.user_settings.update("root", {"CLIP_stop_at_last_layers": 2})
    save(services, "alice's lighthouse", "alice")
    save(services, "root's harbour", "root")
    services.jobs.start()
    app = build_app(services, accounts)
    demo = build_ui(services)
    mount_ui(app, demo, services, accounts)
    yield base, services, demo, app
    services.jobs.stop()


@pytest.fixture
def fake_git(monkeypatch) -> FakeGit:
    git = FakeGit()
    monkeypatch.setattr(subprocess, "run", git)
    return git


@pytest.fixture
def workdir(studio, monkeypatch) -> Path:
    """A working directory two levels below the studio, so `../..` paths land where the snapshot sees them."""
    base = studio[0]
    cwd = base / "cwd" / "a" / "b"
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(cwd)
    return cwd


# ------------------------------------------------------------------------------------------ what others own
def snapshot(base: Path, services: Any) -> dict[str, Any]:
    files: dict[str, str] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if "__pycache__" in rel.parts or path.name.startswith("history.sqlite3"):
            continue
        if rel.parts[:2] == ("outputs", "bob"):
            continue  # bob's own pictures
        if rel.name == "user-settings.json":
            continue  # compared below, without bob's entry
        if path.is_symlink():
            files[str(rel)] = "link -> " + os.readlink(path)
        elif path.is_file():
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            files[str(rel)] = "folder"
    user_file = services.settings.paths.settings_file.with_name("user-settings.json")
    users = json.loads(user_file.read_text(encoding="utf-8")) if user_file.exists() else {}
    users.pop("bob", None)
    from modules.service.history import Query

    return {
        "files": files,
        "user settings": users,
        "ui settings": dict(services.ui_settings.values),
        "preview_every": services.jobs.preview_every,
        "extension settings": {e.name: e.api.settings.all() for e in services.extensions.active()},
        "history": {(user, trashed): [(e.id, e.path) for e in services.history.search(
            Query(trashed=trashed), user, per_page=100).entries]
            for user in ("alice", "root") for trashed in (False, True)},
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    if "files" in changed:
        old, new = changed.pop("files")
        changed["files"] = {name: (old.get(name), new.get(name)) for name in sorted(set(old) | set(new))
                            if old.get(name) != new.get(name)}
    assert not changed, f"bob changed what others own: {changed}"


def wait_for_jobs(services: Any, timeout: float = 120.0) -> None:
    for job in services.jobs.all_jobs():
        services.jobs.wait(job, timeout)


# ------------------------------------------------------------------------------------------ Gradio events
HOSTILE_NUMBERS = (10**12, -(10**12), 1e308)


def choices_of(component: Any) -> list[Any]:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (getattr(component, "choices", None) or [])]


def hostile_texts(victim: Path) -> tuple[str, str, str]:
    """A .pth file's absolute path, a `../..` path (from the working directory, see `workdir`), a git URL."""
    return str(victim / "x.pth"), f"../../{victim.name}/x.pth", GIT_URL


def written(victim: Path) -> list[Path]:
    """Whatever the hostile paths of `victim` made, absolute or relative."""
    return [p for p in (victim, victim.parent / "cwd" / victim.name) if p.exists()]


def hostile_value(component: Any, round_: int, victim: Path) -> Any:
    kind = type(component).__name__
    text = hostile_texts(victim)[round_]
    if kind == "Textbox":
        return text
    if kind == "Number":
        return HOSTILE_NUMBERS[round_]
    if kind == "Slider":
        return component.value
    if kind == "Checkbox":
        return round_ != 1
    if kind == "CheckboxGroup":
        choices = choices_of(component)
        return [[], choices, choices[:1]][round_]
    if kind in ("Dropdown", "Radio"):
        choices = choices_of(component)
        if getattr(component, "multiselect", False):
            return [] if round_ != 1 else choices
        if getattr(component, "allow_custom_value", False):
            return text
        return choices[round_ % len(choices)] if choices else None
    return None  # pictures, files, galleries, states: nothing


def call_event(demo: Any, fn_index: int, inputs: list[Any], user: str | None, timeout: float = 180.0) -> Any:
    """Run one event as Gradio's queue would for `user`: its outputs, or the exception it raised."""
    import gradio as gr
    from gradio.state_holder import SessionState

    async def run() -> Any:
        request = gr.Request(username=user, session_hash=f"{user}-session")
        state = SessionState(demo)
        answer = await demo.process_api(fn_index, list(inputs), state=state, request=request,
                                        session_hash=request.session_hash)
        while answer.get("is_generating"):
            answer = await demo.process_api(fn_index, list(inputs), state=state, request=request,
                                            iterator=answer["iterator"], session_hash=request.session_hash)
        return answer["data"]

    try:
        return asyncio.run(asyncio.wait_for(run(), timeout))
    except Exception as exc:  # a refusal (gr.Error) or a preprocessing error: both leave things as they were
        return exc


def events(demo: Any) -> list[tuple[int, Any]]:
    return [(i, dep) for i, dep in demo.fns.items() if dep.fn is not None]


def trigger_id(demo: Any, dep: Any) -> str | None:
    block_id = dep.targets[0][0] if dep.targets else None
    block = demo.blocks.get(block_id) if block_id is not None else None
    return getattr(block, "elem_id", None)


def event_of(demo: Any, elem_id: str) -> tuple[int, Any]:
    found = [(i, dep) for i, dep in events(demo) if trigger_id(demo, dep) == elem_id]
    assert len(found) == 1, f"{len(found)} events are triggered by #{elem_id}"
    return found[0]


def click(demo: Any, elem_id: str, user: str | None, **values: Any) -> Any:
    """Click #elem_id as `user`; inputs are given by their elem_id, the others keep their built value."""
    index, dep = event_of(demo, elem_id)
    unknown = set(values) - {c.elem_id for c in dep.inputs}
    assert not unknown, f"#{elem_id}'s event has no inputs {unknown}"
    return call_event(demo, index, [values.get(c.elem_id, c.value) for c in dep.inputs], user)


def test_bob_changes_nothing_shared_through_any_ui_event(studio, fake_git, workdir):
    base, services, demo, _ = studio
    victim = base / "victim-ui"
    before = snapshot(base, services)
    called = 0
    for round_ in range(3):
        for index, dep in events(demo):
            call_event(demo, index, [hostile_value(c, round_, victim) for c in dep.inputs], "bob")
            called += 1
    wait_for_jobs(services)
    assert called >= 3 * 90, "the UI has fewer events than expected: is the app fully built?"
    assert_unchanged(before, snapshot(base, services))
    assert not fake_git.clones, f"bob cloned {fake_git.clones}"
    assert not written(victim)


# ------------------------------------------------------------------------------------------ REST routes
HOSTILE_SEGMENTS = ("1", "..%2F..%2Fetc%2Fpasswd", "99999999999999999999")


def hostile_body(victim: Path) -> dict[str, Any]:
    path = str(victim / "x.pth")
    return {"prompt": path, "negative_prompt": "../../etc/passwd", "styles": [path], "styles_file": path,
            "url": GIT_URL, "folder": str(victim), "disabled_extensions": [], "sd_model_checkpoint": path,
            "sd_vae": "../../etc/passwd", "CLIP_stop_at_last_layers": 10**12, "preview_every": 10**12,
            "steps": 10**12, "width": 10**12, "height": 10**12, "n_iter": 10**12, "batch_size": 10**12,
            "seed": 10**30, "image": path, "init_images": [path], "alwayson_scripts": {"styles": {"args": {
                "styles": [path]}}, "hello": {"args": {"greeting": path}}}, "extension_settings": {"styles": {
                    "styles_file": path}}}


def api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, route) of every FastAPI route of ours, descending into included routers. Gradio's mount is left
    out: its routes run the UI's events, which the test above calls."""
    from fastapi.routing import APIRoute

    found = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            found += api_routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            found.append((prefix + route.path, route))
    return found


def test_bob_changes_nothing_shared_through_any_rest_route(studio, fake_git, workdir):
    from fastapi.testclient import TestClient

    base, services, _, app = studio
    victim = base / "victim-rest"
    before = snapshot(base, services)
    routes = api_routes(app.routes)
    assert any(path.startswith("/ext/styles/") for path, _ in routes), "the extensions' routes are missing"
    answers = []
    with TestClient(app) as client:
        for template, route in routes:
            for method in sorted(route.methods - {"HEAD"}):
                for number, segment in enumerate(HOSTILE_SEGMENTS):
                    path = re.sub(r"\{[^}]+\}", segment, template)
                    text = hostile_texts(victim)[number]
                    params = {p.alias: (text if number != 2 else str(HOSTILE_NUMBERS[0]))
                              for p in route.dependant.query_params}
                    params.update(confirm="true") if "confirm" in params else None
                    body = hostile_body(victim) if method in ("POST", "PUT", "PATCH", "DELETE") else None
                    answer = client.request(method, path, params=params, json=body, headers=basic("bob"))
                    answers.append((method, path, answer.status_code))
    wait_for_jobs(services)
    assert len({(m, p) for m, p, _ in answers}) >= 40, answers
    assert not [a for a in answers if a[2] == 401], "bob's credentials were refused: nothing was tested"
    assert_unchanged(before, snapshot(base, services))
    assert not fake_git.clones and not written(victim)


# ------------------------------------------------------------------------------------------ the attacks, one by one
def styles_file(services: Any) -> Path:
    return services.extensions.get("styles").api.folder / "styles.csv"


def test_bob_cannot_point_the_styles_file_at_a_pth_and_save_a_style(studio, workdir):
    base, services, demo, _ = studio
    target = base / "site-packages" / "evil.pth"
    target.parent.mkdir(exist_ok=True)
    before = snapshot(base, services)
    refused = click(demo, "extensions_settings_save", "bob", ext_setting_styles_styles_file=str(target))
    assert isinstance(refused, Exception) and "admin" in str(refused)
    answer = click(demo, "styles_save", "bob", styles_name="import os; os.system('id')", styles_prompt="x",
                   styles_negative="y")
    assert isinstance(answer, Exception) and "admin" in str(answer)
    answer = click(demo, "styles_delete", "bob", styles_name="Photo")
    assert isinstance(answer, Exception) and "admin" in str(answer)
    assert not target.exists()
    assert "Photo" in styles_file(services).read_text(encoding="utf-8")
    assert_unchanged(before, snapshot(base, services))


def test_bob_cannot_install_an_extension_even_on_a_localhost_server(studio, fake_git):
    base, services, demo, _ = studio
    assert not services.settings.listen  # the default, and a reverse proxy's set-up
    before = snapshot(base, services)
    answer = click(demo, "extensions_install_button", "bob", extensions_install_url=GIT_URL)
    assert isinstance(answer, Exception) and "admin" in str(answer)
    assert not fake_git.clones
    assert_unchanged(before, snapshot(base, services))


def test_an_admin_installs_from_a_localhost_server(studio, fake_git):
    base, services, demo, _ = studio
    target = services.settings.paths.extensions / "evil-ext"
    try:
        answer = click(demo, "extensions_install_button", "root", extensions_install_url=GIT_URL)
        assert not isinstance(answer, Exception), answer
        assert "Installed evil-ext" in str(answer) and (target / "extension.py").is_file()
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_bob_cannot_change_the_global_settings_or_which_extensions_load(studio):
    base, services, demo, _ = studio
    before = snapshot(base, services)
    answer = click(demo, "settings_apply", "bob", settings_preview_every=0,
                   settings_default_negative="bob's negative for everyone")
    assert isinstance(answer, Exception) and "admin" in str(answer)
    answer = click(demo, "extensions_save", "bob", extensions_enabled=[])
    assert isinstance(answer, Exception) and "admin" in str(answer)
    assert_unchanged(before, snapshot(base, services))


def test_an_admin_still_changes_the_settings(studio):
    base, services, demo, _ = studio
    answer = click(demo, "settings_apply", "root", settings_preview_every=4, settings_default_negative="blurry")
    assert not isinstance(answer, Exception), answer
    assert services.ui_settings.get("preview_every") == 4 and services.jobs.preview_every == 4
    services.ui_settings.update({"preview_every": 3})
    services.jobs.preview_every = 3


def test_the_styles_file_is_a_plain_csv_name_in_the_extension_folder_even_for_an_admin(studio, tmp_path):
    base, services, demo, _ = studio
    ext = services.extensions.get("styles")
    outside = tmp_path / "outside.csv"
    outside.write_text("name,prompt,negative_prompt\nSecret,the secret,\n", encoding="utf-8")
    (ext.api.folder / "linked.csv").symlink_to(outside)
    try:
        for bad in (str(tmp_path / "x.pth"), str(outside), "../x.csv", "sub/x.csv", "x.pth", "..", ".x.csv",
                    "linked.csv", "~/x.csv"):
            answer = click(demo, "extensions_settings_save", "root", ext_setting_styles_styles_file=bad)
            assert "styles_file" in str(answer) and "Not all saved" in str(answer), (bad, answer)
            assert ext.api.settings.get("styles_file") == "", bad
        answer = click(demo, "extensions_settings_save", "root", ext_setting_styles_styles_file="studio.csv")
        assert answer == ["Saved."] or "Saved." in str(answer), answer
        saved = click(demo, "styles_save", "root", styles_name="Studio", styles_prompt="{prompt}, studio light",
                      styles_negative="")
        assert not isinstance(saved, Exception), saved
        assert "Studio" in (ext.api.folder / "studio.csv").read_text(encoding="utf-8")
        assert outside.read_text(encoding="utf-8").count("Secret") == 1 and not (tmp_path / "x.pth").exists()
    finally:
        ext.api.settings.update({"styles_file": ""})
        (ext.api.folder / "linked.csv").unlink()
        (ext.api.folder / "studio.csv").unlink(missing_ok=True)


ADMIN_ONLY = ("settings_editors", "extensions_enabled", "extensions_save", "extensions_settings",
              "extensions_install", "history_import_box", "styles_editor_buttons")


def visibility_on_load(demo: Any, user: str) -> dict[str, bool]:
    """{elem_id: visible} of what the page-load events show or hide for `user`."""
    shown: dict[str, bool] = {}
    for index, dep in events(demo):
        if not any(event == "load" for _, event in dep.targets):
            continue
        data = call_event(demo, index, [], user)
        assert not isinstance(data, Exception), data
        for component, value in zip(dep.outputs, data):
            if isinstance(value, dict) and "visible" in value and component.elem_id:
                shown[component.elem_id] = value["visible"]
    return shown


def test_bob_does_not_see_what_only_an_admin_may_do_and_root_does(studio):
    _, _, demo, _ = studio
    bob, root = visibility_on_load(demo, "bob"), visibility_on_load(demo, "root")
    assert {key: bob.get(key) for key in ADMIN_ONLY} == dict.fromkeys(ADMIN_ONLY, False)
    assert {key: root.get(key) for key in ADMIN_ONLY} == dict.fromkeys(ADMIN_ONLY, True)
    assert bob["settings_readonly"] and not root["settings_readonly"]


def test_without_accounts_the_local_user_still_does_all_of_it(tiny_models_dir, tmp_path, fake_git):
    """A single-user local instance (no accounts, not --listen) keeps today's behaviour."""
    from modules.core.settings import settings_from_args
    from modules.service.accounts import Accounts
    from modules.service.services import build_services, start_extensions
    from modules.ui.app import build_ui

    shutil.copytree(REPO_ROOT / "extensions" / "styles", tmp_path / "extensions" / "styles",
                    ignore=shutil.ignore_patterns("__pycache__"))
    settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "outputs"),
                                   "--settings-file", str(tmp_path / "settings.json"),
                                   "--extensions-dir", str(tmp_path / "extensions")])
    services = build_services(settings, DeviceConfig(torch.device("cpu"), torch.float32, "tests"), accounts=Accounts())
    start_extensions(services)
    demo = build_ui(services)
    shown = visibility_on_load(demo, None)
    assert {key: shown.get(key) for key in ADMIN_ONLY} == dict.fromkeys(ADMIN_ONLY, True)
    answer = click(demo, "settings_apply", None, settings_preview_every=7)
    assert answer[-1] == "Settings saved: Live preview every N steps.", answer
    assert services.ui_settings.get("preview_every") == 7
    saved = click(demo, "styles_save", None, styles_name="Local", styles_prompt="{prompt}, local", styles_negative="")
    assert not isinstance(saved, Exception), saved
    assert "Local" in (tmp_path / "extensions" / "styles" / "styles.csv").read_text(encoding="utf-8")
    answer = click(demo, "extensions_install_button", None, extensions_install_url=GIT_URL)
    assert "Installed evil-ext" in str(answer) and fake_git.clones
