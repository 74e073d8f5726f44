"""Extensions in a real browser: a broken extension is listed as failed, and the app still generates."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.browser.conftest import CHROMIUM, REPO_ROOT, served_webui
from tests.fixtures.fake_extensions import RAISES_AT_IMPORT, write_extension

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_with_broken_extension(tiny_models_dir, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    base = tmp_path_factory.mktemp("webui-ext")
    extensions = base / "extensions"
    write_extension(extensions, "broken", RAISES_AT_IMPORT)
    shutil.copytree(REPO_ROOT / "extensions" / "hello", extensions / "hello")
    with served_webui(base, tiny_models_dir, ("--extensions-dir", str(extensions))) as served:
        yield served


def test_extensions_tab_shows_the_failed_extension_and_generation_still_works(browser_context,
                                                                                server_with_broken_extension):
    from playwright.sync_api import expect

    from tests.browser.test_txt2img import PROMPT, set_number

    url, outputs = server_with_broken_extension
    expect.set_options(timeout=30_000)
    page = browser_context.new_page()
    try:
        page.goto(url, timeout=60_000)
        expect(page.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
        page.get_by_role("tab", name="Extensions").click()
        broken = page.locator('#extensions_table tr[data-extension="broken"]')
        expect(broken).to_contain_text("failed")
        expect(broken).to_contain_text("boom at import")
        expect(page.locator('#extensions_table tr[data-extension="hello"]')).to_contain_text("loaded")
        expect(page.locator("#tab_extensions")).to_contain_text("takes effect at the next start")
        # The working extension's tab is there; the broken one took nothing else down.
        expect(page.get_by_role("tab", name="Hello")).to_be_visible()

        page.get_by_role("tab", name="txt2img").click()
        set_number(page, "txt2img_width", 16)
        set_number(page, "txt2img_height", 16)
        set_number(page, "txt2img_steps", 2)
        expect(page.locator("#txt2img_steps input[type=number]")).to_have_value("2")
        page.locator("#txt2img_prompt textarea").fill(PROMPT)
        page.locator("#txt2img_generate").click()
        expect(page.locator("#txt2img_gallery img").first).to_be_visible(timeout=90_000)
        expect(page.locator("#txt2img_info textarea")).to_have_value(re.compile(r"Steps: 2"), timeout=60_000)
        expect(page.locator("#txt2img_status")).to_contain_text("Done")
        assert list((outputs / "txt2img-images").glob("*/*.png")), "the picture was not saved"
    finally:
        page.close()
