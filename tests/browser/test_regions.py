"""The Regions accordion in a real browser: two box rows preview their layout at the picture's size, and the job
they make writes its regions in the infotext."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 90_000


def test_txt2img_regions_preview_their_layout_and_reach_the_infotext(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    set_number(page, "txt2img_width", 32)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 3)
    page.locator("#txt2img_prompt textarea").fill("two shapes")
    page.locator("#txt2img_regions").get_by_text("Regions", exact=True).first.click()
    page.locator("#txt2img_rg_enable input").check()
    page.locator("#txt2img_rg_0_prompt textarea").fill("a red circle")
    page.locator("#txt2img_rg_1_prompt textarea").fill("a blue square")
    page.locator("#txt2img_rg_show").click()
    preview = page.locator("#txt2img_rg_preview img")
    expect(preview).to_be_visible(timeout=WAIT)
    size = preview.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [32, 16]  # drawn at the picture's size
    page.locator("#txt2img_regions").screenshot(path=str(artifacts_dir / "regions-panel.png"))
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r'Regions: .*a red circle.*\[0\.0,0\.0,0\.5,1\.0\].*a blue square'),
                               timeout=WAIT)
