"""Hires. fix and the Extras tab in a real browser: the pictures come out at the asked size and are saved."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 60_000


def test_hires_fix_doubles_the_picture(page, webui_server):
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set((outputs / "txt2img-images").glob("*/*.png"))
    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_hr").get_by_text("Hires. fix", exact=True).first.click()
    page.locator("#txt2img_enable_hr input").check()
    set_number(page, "txt2img_hires_steps", 2)
    page.locator("#txt2img_prompt textarea").fill("a red circle")
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r"Hires upscale: 2"), timeout=WAIT)
    expect(info).to_have_value(re.compile(r"Size: 16x16"))  # A1111 writes the first pass's size
    new = sorted(set((outputs / "txt2img-images").glob("*/*.png")) - before)
    assert len(new) == 1
    with Image.open(new[0]) as saved:
        assert saved.size == (32, 32)


def test_extras_upscales_an_upload_and_saves_it(page, webui_server, tmp_path):
    from playwright.sync_api import expect

    _, outputs = webui_server
    source = tmp_path / "small.png"
    Image.new("RGB", (20, 12), (200, 30, 30)).save(source)
    page.locator("#tab_extras-button").click()
    page.locator("#extras_image input[type=file]").set_input_files(str(source))
    expect(page.locator("#extras_image img")).to_be_visible(timeout=WAIT)
    set_number(page, "extras_upscaling_resize", 2)
    page.locator("#extras_generate").click()
    expect(page.locator("#extras_gallery img").first).to_be_visible(timeout=WAIT)
    saved = sorted((outputs / "extras-images").glob("**/*.png"))
    assert saved, f"nothing saved under {outputs / 'extras-images'}"
    with Image.open(saved[-1]) as picture:
        assert picture.size == (40, 24)
        assert picture.getpixel((20, 12)) == (200, 30, 30)
