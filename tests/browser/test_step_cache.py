"""The Step cache accordion in a real browser: a chosen cache is named in the infotext, PNG Info's "Send to txt2img"
brings it back, and a cache that does not fit the model is refused with a message on the page."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 90_000


def _small_job(page, prompt: str) -> None:
    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 4)
    page.locator("#txt2img_prompt textarea").fill(prompt)


def _choose(page, tab: str, cache: str) -> None:
    page.locator(f"#{tab}_step_cache").get_by_text("Step cache", exact=True).first.click()
    page.locator(f"#{tab}_step_cache_choice").get_by_text(cache, exact=True).click()


def test_deepcache_is_named_in_the_infotext_and_png_info_restores_it(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set((outputs / "txt2img-images").glob("*/*.png"))
    _small_job(page, "a red circle")
    _choose(page, "txt2img", "DeepCache")
    set_number(page, "txt2img_deepcache_interval", 2)
    page.locator("#txt2img_generate").click()
    expect(page.locator("#txt2img_info textarea")).to_have_value(re.compile(r"DeepCache interval: 2\b"), timeout=WAIT)
    page.screenshot(path=str(artifacts_dir / "step_cache_txt2img.png"), full_page=True)
    saved = sorted(set((outputs / "txt2img-images").glob("*/*.png")) - before)
    assert len(saved) == 1, saved

    page.reload()  # a fresh form: the cache can only come back from the picture
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(saved[0]))
    expect(page.locator("#pnginfo_text textarea")).to_have_value(re.compile(r"DeepCache interval: 2"), timeout=WAIT)
    page.locator("#pnginfo_send_txt2img").click()
    page.locator("#txt2img_step_cache").get_by_text("Step cache", exact=True).first.click()
    choice = page.locator("#txt2img_step_cache_choice")
    expect(choice.get_by_label("DeepCache", exact=True)).to_be_checked(timeout=WAIT)
    expect(choice.get_by_label("Off", exact=True)).not_to_be_checked()
    expect(page.locator("#txt2img_deepcache_interval input[type=number]")).to_have_value("2")


def test_a_transformer_cache_asked_of_a_unet_model_is_refused_on_the_page(page, webui_server):
    from playwright.sync_api import expect

    _small_job(page, "a blue square")
    _choose(page, "txt2img", "TaylorSeer")
    page.locator("#txt2img_generate").click()
    expect(page.locator("#txt2img_status")).to_contain_text("are for transformer models", timeout=WAIT)
    expect(page.locator("#txt2img_status")).to_contain_text("DeepCache")
