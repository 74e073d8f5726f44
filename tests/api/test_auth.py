"""Login on every route (API, docs, the mounted Gradio UI), per-user files, and path traversal."""

from __future__ import annotations

import re

import pytest
import torch
from starlette.routing import Mount

from modules.engine.devices import DeviceConfig
from tests.api.conftest import PASSWORDS, basic, make_accounts, make_services

# What may answer without credentials: the login page and what it needs to render. Nothing else.
PUBLIC = {("GET", "/"), ("HEAD", "/"), ("POST", "/login"), ("POST", "/login/"), ("GET", "/favicon.ico"),
          ("GET", "/theme.css"), ("GET", "/gradio_api/theme.css"), ("GET", "/robots.txt"),
          ("GET", "/manifest.json")}
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/static/", "/pwa_icon")
PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def full_app(tiny_models_dir, tmp_path_factory):
    """webui.py's app: the API with the Gradio UI mounted at /, accounts alice, bob and root (admin)."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.ui.app import build_ui, mount_ui

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("full"), device, per_user_outputs=True)
    services.jobs.start()
    accounts = make_accounts()
    app = build_app(services, accounts)
    mount_ui(app, build_ui(services), services, accounts)
    with TestClient(app) as client:
        yield app, client, services
    services.jobs.stop()


def all_routes(routes, prefix: str = ""):
    """(method, path) of every route, descending into included routers and mounted apps (Gradio)."""
    for route in routes:
        if isinstance(route, Mount):
            yield from all_routes(route.routes, prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from all_routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "methods") and route.methods:
            for method in route.methods:
                yield method, prefix + route.path
        elif hasattr(route, "path"):
            yield "WEBSOCKET", prefix + route.path


def test_every_route_needs_login_except_the_login_page_and_assets(full_app):
    app, client, _ = full_app
    client.cookies.clear()
    routes = sorted(set(all_routes(app.routes)))
    paths = {path for _, path in routes}
    # The walk sees our API, the docs and Gradio's own routes.
    assert {"/sdapi/v1/txt2img", "/api/v1/jobs/{job_id}/events", "/docs", "/config"} <= paths
    assert any(p.startswith("/gradio_api/file=") for p in paths) and len(routes) > 80
    open_routes = []
    for method, template in routes:
        if method == "WEBSOCKET":
            continue
        path = PARAM.sub("x", template)
        if (method, template) in PUBLIC or (method in ("GET", "HEAD") and template.startswith(PUBLIC_PREFIXES)):
            continue
        response = client.request(method, path)
        if response.status_code != 401:
            open_routes.append(f"{method} {template} -> {response.status_code}")
    assert not open_routes, "routes answering without login:\n" + "\n".join(open_routes)


def test_the_root_page_without_login_is_the_login_page(full_app):
    _, client, _ = full_app
    client.cookies.clear()
    page = client.get("/")
    assert page.status_code == 200
    assert "txt2img_prompt" not in page.text  # no part of the app leaks into the login page
    assert client.get("/config").status_code == 401
    api = client.get("/sdapi/v1/options")
    assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Basic")


def test_wrong_password_and_unknown_user_are_refused(full_app):
    _, client, _ = full_app
    client.cookies.clear()
    import base64

    for user, password in (("alice", "wrong"), ("mallory", "x"), ("alice", "")):
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert client.get("/sdapi/v1/options", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert client.get("/sdapi/v1/options", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200
    assert client.get("/docs", headers=basic("alice")).status_code == 200
    assert client.get("/openapi.json", headers=basic("alice")).json()["paths"]["/sdapi/v1/txt2img"]


def test_ui_login_opens_the_ui_and_the_api_for_that_user(full_app):
    _, client, _ = full_app
    client.cookies.clear()
    assert client.post("/login", data={"username": "bob", "password": "nope"}).status_code >= 400
    assert client.get("/config").status_code == 401
    login = client.post("/login", data={"username": "bob", "password": PASSWORDS["bob"]})
    assert login.status_code == 200, login.text
    try:
        assert client.get("/config").status_code == 200
        # The browser's session also works for the API, as bob (his own options).
        client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "tiny-b"})
        assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("tiny-b")
        assert client.get("/sdapi/v1/options", headers=basic("alice")).json()["sd_model_checkpoint"] != \
            client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    finally:
        client.cookies.clear()


# ---------------------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def user_files(full_app):
    _, _, services = full_app
    root = services.outputs.root
    files = {}
    for user in ("alice", "bob"):
        folder = root / user / "txt2img-images" / "2026-01-01"
        folder.mkdir(parents=True, exist_ok=True)
        files[user] = folder / "00000-1.png"
        files[user].write_bytes(b"\x89PNG\r\n\x1a\n" + user.encode())
    secret = root.parent / "secret.txt"
    secret.write_text("not for anyone")
    (root / "alice" / "escape.png").symlink_to(secret)
    (root / "alice" / "bobs.png").symlink_to(files["bob"])
    return files, secret


def file_url(path: str) -> str:
    return "/gradio_api/file=" + path


def login(client, user: str) -> None:
    """Log in through the UI's login page, as a browser does (Gradio's file route wants its session)."""
    client.cookies.clear()
    assert client.post("/login", data={"username": user, "password": PASSWORDS[user]}).status_code == 200


def test_users_read_only_their_own_outputs(full_app, user_files):
    _, client, services = full_app
    files, _ = user_files
    try:
        login(client, "alice")
        mine = client.get(file_url(str(files["alice"])))
        assert mine.status_code == 200 and mine.content.endswith(b"alice")
        assert client.get(file_url(str(files["bob"]))).status_code == 403
        login(client, "root")
        assert client.get(file_url(str(files["bob"]))).status_code == 200  # admins see all
    finally:
        client.cookies.clear()
    assert client.get(file_url(str(files["alice"]))).status_code == 401


@pytest.mark.parametrize("trick", [
    "{alice_dir}/../../bob/txt2img-images/2026-01-01/00000-1.png",  # ../ out of one's own folder
    "{alice_dir}/%2e%2e/%2e%2e/bob/txt2img-images/2026-01-01/00000-1.png",  # encoded
    "{root}/alice/bobs.png",  # a symlink to another user's file
    "{root}/alice/escape.png",  # a symlink out of outputs
    "{root}/../secret.txt",  # out of outputs
    "/etc/passwd",  # absolute path elsewhere
])
def test_path_traversal_is_refused(full_app, user_files, trick):
    _, client, services = full_app
    files, _ = user_files
    root = services.outputs.root
    path = trick.format(alice_dir=files["alice"].parent, root=root)
    login(client, "alice")
    try:
        response = client.get(file_url(path))
    finally:
        client.cookies.clear()
    assert response.status_code in (403, 404), (path, response.status_code)
    assert b"not for anyone" not in response.content and b"PNG\r\n\x1a\nbob" not in response.content


def test_the_ui_shows_a_warning_banner_when_open_without_login(full_app):
    from modules.ui.app import build_ui

    _, _, services = full_app
    demo = build_ui(services, banner="open to the network without login")
    values = [str(c.get("props", {}).get("value")) for c in demo.config["components"]]
    assert any("open to the network without login" in v for v in values)
    plain = build_ui(services)
    assert not any("insecure_banner" == c.get("props", {}).get("elem_id") for c in plain.config["components"])
