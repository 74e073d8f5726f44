"""Attacks from a page on another site (or another port of this host) through a logged-in user's browser.

A browser attaches the user's session cookie (or cached HTTP Basic credentials) to requests that any page
makes. These tests send what such a page makes the browser send (`Origin`, `Sec-Fetch-*`) and check that
the server neither answers it readably nor acts on it, while API clients without those headers keep working.
"""

from __future__ import annotations

import re

import pytest
import torch

from modules.engine.devices import DeviceConfig
from tests.api.conftest import PASSWORDS, basic, make_accounts, make_services
from tests.api.test_history_api import save

OWN = "https://localhost:7860"  # the server, as the tests' client reaches it (https: Gradio's cookie is Secure)
# What a browser adds to a request made by a page elsewhere.
OTHER_PORT_FETCH = {"Origin": "https://localhost:8000", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors",
                    "Sec-Fetch-Dest": "empty"}
OTHER_SITE_FETCH = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors",
                    "Sec-Fetch-Dest": "empty"}
OTHER_SITE_FORM = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                   "Sec-Fetch-Dest": "document", "Content-Type": "application/x-www-form-urlencoded"}
OLD_BROWSER_FETCH = {"Origin": "https://evil.example"}  # no Sec-Fetch-* headers
SAME_ORIGIN_FETCH = {"Origin": OWN, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors",
                     "Sec-Fetch-Dest": "empty"}
READS = pytest.mark.parametrize("attack", [OTHER_PORT_FETCH, OTHER_SITE_FETCH, OLD_BROWSER_FETCH],
                                ids=["other-port-fetch", "other-site-fetch", "old-browser"])
WRITES = pytest.mark.parametrize("attack", [OTHER_PORT_FETCH, OTHER_SITE_FORM, OLD_BROWSER_FETCH],
                                 ids=["other-port-fetch", "other-site-form", "old-browser"])


@pytest.fixture(scope="module")
def ui_app(tiny_models_dir, tmp_path_factory):
    """webui.py's app (API + Gradio UI at /) with accounts, reached as http://localhost:7860."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.ui.app import build_ui, mount_ui

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("attacks"), device, per_user_outputs=True)
    services.jobs.start()
    accounts = make_accounts()
    app = build_app(services, accounts)
    mount_ui(app, build_ui(services), services, accounts)
    with TestClient(app, base_url=OWN) as client:
        yield client, services
    services.jobs.stop()


def log_in(client, user: str) -> None:
    client.cookies.clear()
    answer = client.post("/login", data={"username": user, "password": PASSWORDS[user]}, headers=SAME_ORIGIN_FETCH)
    assert answer.status_code == 200, answer.text


def trashed_picture(client, services, user: str, headers: dict[str, str]) -> int:
    save(services, f"{user}'s picture in the trash", user)
    entry = client.get("/api/v1/history", headers=headers).json()["items"][0]
    assert client.delete(f"/api/v1/history/{entry['id']}", headers=headers).status_code == 200
    return entry["id"]


def in_trash(client, headers: dict[str, str]) -> int:
    return client.get("/api/v1/history", params={"trash": True}, headers=headers).json()["total"]


# ------------------------------------------------------------------------------------- reading the session
@READS
def test_another_page_cannot_read_the_session_token(ui_app, attack):
    client, _ = ui_app
    log_in(client, "alice")
    try:
        stolen = client.get("/gradio_api/token", headers=attack)
        assert stolen.status_code == 403
        assert "alice" not in stolen.text and "access-control-allow-origin" not in stolen.headers
        preflight = client.options("/gradio_api/token", headers={**attack, "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-credentials" not in preflight.headers
        mine = client.get("/gradio_api/token", headers=SAME_ORIGIN_FETCH)  # the UI's own page still may
        assert mine.status_code == 200 and mine.json()["user"] == "alice"
    finally:
        client.cookies.clear()


def test_the_session_cookie_stays_home_on_cross_site_requests(ui_app):
    client, _ = ui_app
    client.cookies.clear()
    answer = client.post("/login", data={"username": "bob", "password": PASSWORDS["bob"]})
    client.cookies.clear()
    cookies = answer.headers.get_list("set-cookie")
    assert answer.status_code == 200 and cookies
    for cookie in cookies:
        assert re.search(r";\s*samesite=(lax|strict)\b", cookie, re.I), cookie


# ------------------------------------------------------------------------------------ acting as the user
@WRITES
def test_cross_site_posts_with_the_session_cookie_change_nothing(ui_app, attack):
    client, services = ui_app
    log_in(client, "alice")
    try:
        trashed_picture(client, services, "alice", {})
        before = in_trash(client, {})
        for url in ("/api/v1/history/trash/empty?confirm=true", "/sdapi/v1/interrupt", "/sdapi/v1/skip",
                    "/logout"):
            answer = client.post(url, headers=attack)
            assert answer.status_code == 403, (url, answer.status_code)
            assert "cross-site" in answer.json()["detail"].lower()
        assert in_trash(client, {}) == before
        assert client.get("/config").status_code == 200  # still logged in: the logout was refused too
    finally:
        client.cookies.clear()


@WRITES
def test_cross_site_posts_with_cached_basic_credentials_change_nothing(client, services, gate, attack):
    alice = basic("alice")
    picture = trashed_picture(client, services, "alice", alice)
    running = client.post("/api/v1/jobs", headers=alice, json={"prompt": "x", "width": 16, "height": 16,
                                                                "steps": 1}).json()["id"]
    assert gate.started.wait(30)
    for url in ("/api/v1/history/trash/empty?confirm=true", f"/api/v1/history/{picture}/restore",
                "/sdapi/v1/interrupt", "/sdapi/v1/skip", f"/api/v1/jobs/{running}/cancel"):
        assert client.post(url, headers={**alice, **attack}).status_code == 403, url
    assert client.request("DELETE", f"/api/v1/jobs/{running}", headers={**alice, **attack}).status_code == 403
    job = services.jobs.get(running)
    assert job.status == "running" and not job.control.interrupt.is_set()
    assert in_trash(client, alice) == 1
    # The same requests without a browser's cross-site headers (curl, A1111 API clients) still work.
    assert client.post("/api/v1/history/trash/empty?confirm=true", headers=alice).json() == {"deleted": 1}
    assert client.post(f"/api/v1/jobs/{running}/cancel", headers=alice).status_code == 200


def test_cross_site_posts_to_an_instance_without_accounts_change_nothing(open_client):
    services = open_client.app.state.services
    picture = trashed_picture(open_client, services, None, {})
    assert open_client.post("/api/v1/history/trash/empty?confirm=true", headers=OTHER_SITE_FORM).status_code == 403
    assert open_client.post(f"/api/v1/history/{picture}/restore", headers=OLD_BROWSER_FETCH).status_code == 403
    assert in_trash(open_client, {}) == 1
    assert open_client.get("/sdapi/v1/options", headers=OTHER_PORT_FETCH).status_code == 403  # nothing to read
    assert open_client.post("/api/v1/history/trash/empty?confirm=true").json() == {"deleted": 1}


def test_same_origin_pages_links_and_api_clients_keep_working(ui_app):
    client, _ = ui_app
    log_in(client, "bob")  # the login page posts with the server's own Origin
    try:
        assert client.post("/sdapi/v1/options", json={}, headers=SAME_ORIGIN_FETCH).status_code == 200
        link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
        assert client.get("/", headers=link).status_code == 200  # a link to the UI from a chat or a wiki
        typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
        assert client.get("/config", headers=typed).status_code == 200
    finally:
        client.cookies.clear()
    assert client.post("/sdapi/v1/options", json={}, headers=basic("alice")).status_code == 200
    # A reverse proxy that rewrites Host: the browser's Sec-Fetch-Site still says "same-origin".
    proxied = {**SAME_ORIGIN_FETCH, "Origin": "https://studio.example"}
    assert client.post("/sdapi/v1/options", json={}, headers={**basic("alice"), **proxied}).status_code == 200


def test_websockets_from_another_site_are_refused():
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from modules.api.auth import BrowserGuard

    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    client = TestClient(BrowserGuard(Starlette(routes=[WebSocketRoute("/ws", echo)])))
    with client.websocket_connect("/ws", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_text() == "hello"
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws", headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_text()
    assert refused.value.code == 1008


# ------------------------------------------------------------------------------------ framing and sniffing
@pytest.mark.parametrize("path", ["/", "/config", "/sdapi/v1/options", "/docs"])
def test_pages_cannot_be_framed_by_other_sites_nor_sniffed(ui_app, path):
    client, _ = ui_app
    client.cookies.clear()
    for headers in ({}, basic("alice")):
        answer = client.get(path, headers=headers)
        assert answer.headers.get("x-frame-options", "").upper() in ("DENY", "SAMEORIGIN"), (path, answer.status_code)
        policies = ", ".join(answer.headers.get_list("content-security-policy"))
        assert re.search(r"frame-ancestors ('none'|'self')", policies), policies
        assert answer.headers.get("x-content-type-options") == "nosniff"


# ------------------------------------------------------------------------------------------------- logout
def test_logout_is_a_post_and_stays_on_this_server(ui_app):
    client, _ = ui_app
    log_in(client, "alice")
    try:
        elsewhere = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        page = client.get("/logout", headers=elsewhere, follow_redirects=False)
        assert page.status_code == 200 and "evil.example" not in page.text and 'method="post"' in page.text
        assert client.get("/config").status_code == 200  # a GET (a link, an <img>) logs nobody out
        out = client.post("/logout", headers={**elsewhere, **SAME_ORIGIN_FETCH}, follow_redirects=False)
        assert out.status_code == 303, out.text
        assert out.headers["location"] == "/" and "evil.example" not in out.text
        assert any("access-token" in c and "max-age=0" in c.lower() for c in out.headers.get_list("set-cookie"))
        assert client.get("/config").status_code == 401
    finally:
        client.cookies.clear()


# --------------------------------------------------------------------------------------------------- docs
def test_the_api_docs_page_works_offline(ui_app):
    client, _ = ui_app
    client.cookies.clear()
    docs = client.get("/docs", headers=basic("alice"))
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", docs.text)
    assert not [u for u in loaded if re.match(r"(https?:)?//", u)], loaded  # nothing from a CDN
    assert "/sdapi/v1/txt2img" in docs.text and 'href="/openapi.json"' in docs.text
    for url in loaded:  # whatever the page loads is served here, behind the same login
        assert client.get(url, headers=basic("alice")).status_code == 200, url
