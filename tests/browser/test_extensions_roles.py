"""In a real browser, a plain user does not see what only an admin may do: the install box, which extensions
load, the extensions' settings, the server's settings, the Styles editor's Save and Delete. An admin does.

(The server refuses those actions to a plain user whatever the page shows: tests/api/test_shared_state_roles.py.)
"""

from __future__ import annotations

import shutil

import pytest

from tests.browser.conftest import CHROMIUM, REPO_ROOT, served_webui
from tests.browser.test_login import _log_in as logged_in
from tests.browser.test_login import _status

pytestmark = pytest.mark.browser
ADMIN_ONLY = ("#extensions_install", "#extensions_enabled", "#extensions_save", "#extensions_settings")


@pytest.fixture(scope="module")
def studio_server(tiny_models_dir, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    base = tmp_path_factory.mktemp("webui-roles")
    extensions = base / "extensions"
    for name in ("hello", "styles"):
        shutil.copytree(REPO_ROOT / "extensions" / name, extensions / name, ignore=shutil.ignore_patterns("__pycache__"))
    with served_webui(base, tiny_models_dir, ("--auth", "carol:carol-pw,root:root-pw:admin", "--extensions-dir",
                                              str(extensions)), ready=lambda url: _status(url + "/") == 200) as served:
        yield served


def test_a_plain_user_sees_the_shared_settings_read_only(studio_server, browser_context):
    from playwright.sync_api import expect

    url, _ = studio_server
    page = logged_in(browser_context, url, "carol", "carol-pw")
    try:
        page.get_by_role("tab", name="Extensions").click()
        expect(page.locator("#extensions_readonly")).to_be_visible()
        expect(page.locator('#extensions_table tr[data-extension="styles"]')).to_contain_text("loaded")
        for selector in ADMIN_ONLY:
            expect(page.locator(selector)).to_be_hidden()
        page.get_by_role("tab", name="Settings").click()
        expect(page.locator("#settings_readonly")).to_be_visible()
        expect(page.locator("#settings_apply")).to_be_hidden()
        page.get_by_role("tab", name="Styles").click()
        expect(page.locator("#styles_readonly")).to_be_visible()
        expect(page.locator("#styles_pick")).to_be_visible()  # the styles can still be looked at
        expect(page.locator("#styles_save")).to_be_hidden()
    finally:
        page.close()
        browser_context.clear_cookies()


def test_an_admin_sees_the_editors(studio_server, browser_context):
    from playwright.sync_api import expect

    url, _ = studio_server
    page = logged_in(browser_context, url, "root", "root-pw")
    try:
        page.get_by_role("tab", name="Extensions").click()
        for selector in ADMIN_ONLY:
            expect(page.locator(selector)).to_be_visible()
        expect(page.locator("#extensions_readonly")).to_be_hidden()
        page.get_by_role("tab", name="Settings").click()
        expect(page.locator("#settings_apply")).to_be_visible()
        page.get_by_role("tab", name="Styles").click()
        expect(page.locator("#styles_save")).to_be_visible()
    finally:
        page.close()
        browser_context.clear_cookies()
