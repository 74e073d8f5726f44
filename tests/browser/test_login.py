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


def _options(url: str, user: str, password: str, change: dict | None = None) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    data = json.dumps(change).encode() if change is not None else None
    request = urllib.request.Request(url + "/sdapi/v1/options", data=data, headers=headers,
                                     method="POST" if change is not None else "GET")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read()) if change is None else {}


def _default_becomes(url: str, user: str, password: str, name: str) -> bool:
    """The pick is saved by its own event, which may land just after the dropdown shows it."""
    import time

    for _ in range(60):
        if _options(url, user, password)["sd_model_checkpoint"].startswith(name):
            return True
        time.sleep(0.5)
    return False


def _log_in(context, url: str, user: str, password: str):
    from playwright.sync_api import expect

    context.clear_cookies()  # one browser profile plays both users
    page = context.new_page()
    page.goto(url, wait_until="networkidle", timeout=60_000)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name=re.compile("login", re.I)).click()
    expect(page.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
    return page


def _pick(page, elem_id: str, name: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=re.compile(f"^{re.escape(name)}")).click()


def test_each_user_sees_and_sets_their_own_default_checkpoint(auth_server, browser_context):
    """The dropdowns start at the user's default (the value the API's options keep per user); a pick in the
    UI becomes that user's default and moves nobody else's."""
    from playwright.sync_api import expect

    url, _ = auth_server
    _options(url, "carol", "carol-pw", {"sd_model_checkpoint": "tiny-b"})
    assert _options(url, "root", "root-pw")["sd_model_checkpoint"].startswith("tiny-a")
    page = _log_in(browser_context, url, "root", "root-pw")
    try:
        expect(page.locator("#txt2img_checkpoint input")).to_have_value(re.compile(r"^tiny-a"))  # not carol's
        _pick(page, "txt2img_checkpoint", "tiny-b")
        expect(page.locator("#txt2img_checkpoint input")).to_have_value(re.compile(r"^tiny-b"))
        assert _default_becomes(url, "root", "root-pw", "tiny-b")
    finally:
        page.close()
    page = _log_in(browser_context, url, "carol", "carol-pw")
    try:
        expect(page.locator("#txt2img_checkpoint input")).to_have_value(re.compile(r"^tiny-b"))
        page.get_by_role("tab", name="img2img", exact=True).click()
        expect(page.locator("#img2img_checkpoint input")).to_have_value(re.compile(r"^tiny-b"))
        _pick(page, "img2img_checkpoint", "tiny-a")
        assert _default_becomes(url, "carol", "carol-pw", "tiny-a")
        assert _options(url, "root", "root-pw")["sd_model_checkpoint"].startswith("tiny-b")  # root's unchanged
    finally:
        page.close()
        browser_context.clear_cookies()


def test_the_page_names_who_is_logged_in_and_logs_out(auth_server, browser_context, tmp_path):
    from playwright.sync_api import expect

    url, _ = auth_server
    page = _log_in(browser_context, url, "carol", "carol-pw")
    try:
        expect(page.locator("#user_bar")).to_contain_text("Logged in as carol", timeout=30_000)
        page.screenshot(path=str(tmp_path / "user-bar.png"))
        page.locator("#logout_button").click()
        page.wait_for_load_state("networkidle", timeout=60_000)
        expect(page.get_by_label("username")).to_be_visible(timeout=60_000)  # back at the login page
        expect(page.locator("body")).to_contain_text("Stable Diffusion WebUI")
        expect(page.locator("#txt2img_generate")).to_have_count(0)
    finally:
        page.close()
