"""The Refiner accordion in a real browser: choosing a refiner changes the picture and the infotext says so."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 60_000


def test_txt2img_with_a_refiner_writes_it_in_the_infotext(page, webui_server):
    from playwright.sync_api import expect

    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 4)
    page.locator("#txt2img_prompt textarea").fill("a red circle")
    page.locator("#txt2img_refiner").get_by_text("Refiner", exact=True).first.click()
    box = page.locator("#txt2img_refiner_checkpoint input")
    box.click()
    box.fill("tiny-b")
    page.get_by_role("option", name=re.compile(r"^tiny-b")).first.click()
    set_number(page, "txt2img_refiner_switch_at", 0.5)
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r"Refiner: tiny-b \[[0-9a-f]+\], Refiner switch at: 0\.5"), timeout=WAIT)
