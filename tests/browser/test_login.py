"""A real browser logs in through the login page of a server started with --auth, and generates as that user.

This checks the auth middleware's allowlist from the other side: the login page must work with only the
login page and static assets open, and the job must be owned by (and saved for) the account.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import CHROMIUM, served_webui


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture(scope="module")
def auth_server(tiny_models_dir, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with served_webui(tmp_path_factory.mktemp("webui-auth"), tiny_models_dir,
                      ("--auth", "carol:carol-pw,root:root-pw:admin"),
                      ready=lambda url: _status(url + "/") == 200) as served:
        yield served


def test_api_on_the_same_port_needs_credentials(auth_server):
    url, _ = auth_server
    assert _status(url + "/sdapi/v1/sd-models") == 401
    assert _status(url + "/config") == 401
    token = base64.b64encode(b"carol:carol-pw").decode()
    assert _status(url + "/sdapi/v1/sd-models", {"Authorization": f"Basic {token}"}) == 200
    # A synchronous txt2img over real HTTP (uvicorn): the server waits for the job without dropping it.
    body = json.dumps({"prompt": "a red circle", "width": 16, "height": 16, "steps": 2, "seed": 5}).encode()
    request = urllib.request.Request(url + "/sdapi/v1/txt2img", data=body, method="POST", headers={
        "Authorization": f"Basic {token}", "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=120) as response:
        answer = json.loads(response.read())
    assert len(answer["images"]) == 1 and json.loads(answer["info"])["all_seeds"] == [5]


def test_browser_logs_in_and_generates_as_that_user(auth_server, browser_context):
    from playwright.sync_api import expect

    url, outputs = auth_server
    page = browser_context.new_page()
    try:
        page.goto(url, wait_until="networkidle", timeout=60_000)
        expect(page.locator("#txt2img_generate")).to_have_count(0)  # only the login form before login
        page.get_by_label("username").fill("carol")
        page.get_by_label("password").fill("carol-pw")
        page.get_by_role("button", name=re.compile("login", re.I)).click()
        expect(page.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
        page.locator("#txt2img_prompt textarea").fill("a red circle")
        for elem, value in (("#txt2img_width", "16"), ("#txt2img_height", "16"), ("#txt2img_steps", "2")):
            page.locator(f"{elem} input[type=number]").fill(value)
        page.locator("#txt2img_generate").click()
        expect(page.locator("#txt2img_info textarea")).to_have_value(re.compile("Seed: "), timeout=60_000)
        expect(page.locator("#txt2img_gallery img").first).to_be_visible(timeout=60_000)
    finally:
        page.close()
    saved = list(outputs.rglob("*.png"))
    assert saved and all(p.relative_to(outputs).parts[0] == "carol" for p in saved)
