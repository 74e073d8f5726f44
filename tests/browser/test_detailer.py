"""The ADetailer accordion in a real browser: turned on in txt2img, its unit reaches the job and the infotext."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 60_000


def test_adetailer_turned_on_in_txt2img_is_written_to_the_pictures_infotext(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set(outputs.rglob("txt2img-images/*/*.png"))
    for name, value in (("txt2img_width", 16), ("txt2img_height", 16), ("txt2img_steps", 2)):
        set_number(page, name, value)
    page.locator("#txt2img_prompt textarea").fill("a green star")
    panel = page.locator("#txt2img_adetailer")
    panel.scroll_into_view_if_needed()
    panel.locator(".label-wrap").first.click()
    page.locator("#txt2img_ad_enable input[type=checkbox]").check()
    page.locator("#txt2img_ad_0_prompt textarea").fill("detailed eyes")
    set_number(page, "txt2img_ad_0_denoising_strength", 0.55)
    page.screenshot(path=str(artifacts_dir / "adetailer-panel.png"), full_page=True)
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r"ADetailer model: face_lbp"), timeout=WAIT)
    expect(info).to_have_value(re.compile(r"ADetailer prompt: detailed eyes"))
    expect(info).to_have_value(re.compile(r"ADetailer denoising strength: 0\.55"))
    expect(page.locator("#txt2img_status")).to_contain_text("nothing was found", timeout=WAIT)  # a tiny random picture
    for path in set(outputs.rglob("txt2img-images/*/*.png")) - before:
        path.unlink()  # the txt2img test of this session counts the pictures it finds there
