"""PNG Info in a real browser: read A1111 parameters from an uploaded PNG and send them to txt2img."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from modules.core.infotext import pnginfo_for

pytestmark = pytest.mark.browser

PROMPT = "a small green square, (sharp:1.2)"
PARAMETERS = (f"{PROMPT}\nNegative prompt: blurry\n"
              "Steps: 7, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 1234567, "
              "Size: 24x32, Model hash: 0123456789, Model: not-here, Denoising strength: 0.45, Hires upscale: 1.5, "
              "Hires steps: 3, Hires upscaler: Latent (nearest-exact), Version: v1.10.1")


@pytest.fixture
def a1111_png(tmp_path):
    path = tmp_path / "a1111.png"
    Image.new("RGB", (24, 32), (30, 160, 60)).save(path, pnginfo=pnginfo_for(PARAMETERS))
    return path


def test_pnginfo_reads_and_sends_to_txt2img(page, a1111_png):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(a1111_png))

    fields = page.locator("#pnginfo_fields")
    expect(fields).to_contain_text(PROMPT, timeout=60_000)
    expect(fields).to_contain_text("Steps")
    expect(fields).to_contain_text("1234567")
    expect(page.locator("#pnginfo_text textarea")).to_have_value(re.compile(r"Seed: 1234567"))

    page.locator("#pnginfo_send_txt2img").click()
    prompt = page.locator("#txt2img_prompt textarea")
    expect(prompt).to_be_visible(timeout=60_000)  # the txt2img tab is selected
    expect(prompt).to_have_value(PROMPT)
    expect(page.locator("#txt2img_neg_prompt textarea")).to_have_value("blurry")
    expect(page.locator("#txt2img_seed input[type=number]")).to_have_value("1234567")
    expect(page.locator("#txt2img_steps input[type=number]")).to_have_value("7")
    expect(page.locator("#txt2img_width input[type=number]")).to_have_value("24")
    expect(page.locator("#txt2img_height input[type=number]")).to_have_value("32")
    # The hires fields fill the Hires. fix accordion, switched on.
    page.locator("#txt2img_hr").get_by_text("Hires. fix", exact=True).first.click()
    expect(page.locator("#txt2img_enable_hr input[type=checkbox]")).to_be_checked()
    expect(page.locator("#txt2img_hr_scale input[type=number]")).to_have_value("1.5")
    expect(page.locator("#txt2img_hires_steps input[type=number]")).to_have_value("3")
    expect(page.locator("#txt2img_denoising_strength input[type=number]")).to_have_value("0.45")
    # The picture names a checkpoint that isn't installed: the user is told, the current one is kept.
    page.get_by_role("tab", name="PNG Info").click()
    expect(page.locator("#pnginfo_note")).to_contain_text("is not here")


def test_generated_png_round_trips_through_pnginfo(page, webui_server):
    """A picture this app saved reads back in PNG Info, and sending it restores its seed and checkpoint."""
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set((outputs / "txt2img-images").glob("*/*.png"))
    for elem_id, value in (("txt2img_width", 16), ("txt2img_height", 16), ("txt2img_steps", 1),
                           ("txt2img_seed", 424242)):
        box = page.locator(f"#{elem_id} input[type=number]")
        box.fill(str(value))
        box.press("Tab")
    page.locator("#txt2img_prompt textarea").fill("a blue triangle")
    page.locator("#txt2img_generate").click()
    expect(page.locator("#txt2img_status")).to_contain_text("Done", timeout=60_000)
    new = sorted(set((outputs / "txt2img-images").glob("*/*.png")) - before)
    assert len(new) == 1, new
    assert new[0].name.endswith("-424242.png")

    # A fresh form, so the values below can only come from the picture.
    page.reload()
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(new[0]))
    fields = page.locator("#pnginfo_fields")
    expect(fields).to_contain_text("a blue triangle", timeout=60_000)
    expect(fields).to_contain_text("424242")
    page.locator("#pnginfo_send_txt2img").click()
    expect(page.locator("#txt2img_prompt textarea")).to_have_value("a blue triangle", timeout=60_000)
    expect(page.locator("#txt2img_seed input[type=number]")).to_have_value("424242")
    expect(page.locator("#txt2img_steps input[type=number]")).to_have_value("1")
    expect(page.locator("#txt2img_checkpoint input")).to_have_value(re.compile(r"^tiny-a"))


def test_pnginfo_sends_the_picture_and_its_prompt_to_img2img(page, a1111_png):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(a1111_png))
    expect(page.locator("#pnginfo_fields")).to_contain_text(PROMPT, timeout=60_000)
    page.locator("#pnginfo_send_img2img").click()
    prompt = page.locator("#img2img_prompt textarea")
    expect(prompt).to_be_visible(timeout=60_000)  # the img2img tab is selected
    expect(prompt).to_have_value(PROMPT)
    expect(page.locator("#img2img_neg_prompt textarea")).to_have_value("blurry")
    expect(page.locator("#img2img_image img")).to_be_visible()  # the picture itself came along
    expect(page.locator("#img2img_width input[type=number]")).to_have_value("24")
