"""ControlNet and LoRA in a real browser: draw a scribble in a unit, preview its map, generate with it; pick a
LoRA card and generate with its tag."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_img2img import mouse_stroke
from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 60_000
UNIT = "txt2img_controlnet_unit0"


def choose(page, elem_id: str, value: str) -> None:
    """Pick a value in a Gradio dropdown by typing it and choosing the matching option."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).click()


def image_pixels(page, selector: str) -> np.ndarray:
    src = page.locator(selector).get_attribute("src")
    if src.startswith("data:"):
        raw = base64.b64decode(src.partition(",")[2])
    else:
        raw = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))


def test_draw_a_scribble_preview_its_map_and_generate(page, artifacts_dir):
    from playwright.sync_api import expect

    set_number(page, "txt2img_width", 32)
    set_number(page, "txt2img_height", 32)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    canvas = page.locator(f"#{UNIT}_image canvas").last
    expect(canvas).to_be_visible(timeout=WAIT)
    page.locator(f"#{UNIT}_image").scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse_stroke(page, (x - 60, y - 40), (x + 60, y + 40))  # the brush is ready: no tool to pick first
    choose(page, f"{UNIT}_module", "scribble_threshold")
    choose(page, f"{UNIT}_model", "tiny-cn")
    page.locator(f"#{UNIT}_enable input").check()

    page.locator(f"#{UNIT}_preview_button").click()
    preview = page.locator(f"#{UNIT}_preview img")
    expect(preview).to_be_visible(timeout=WAIT)
    mapped = image_pixels(page, f"#{UNIT}_preview img")
    # The map is at the output size, white strokes on black along the diagonal that was drawn.
    assert mapped.shape[:2] == (32, 32)
    assert mapped[0, 0].max() == 0 and mapped.max() == 255
    assert mapped[16, 16].max() == 255 or mapped[15, 15].max() == 255 or mapped[16, 15].max() == 255

    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r'ControlNet 0: "Module: scribble_threshold, Model: tiny-cn'), timeout=WAIT)
    expect(page.locator("#txt2img_gallery img").first).to_be_visible(timeout=WAIT)
    # The unit's map follows the picture in the gallery, as sd-webui-controlnet shows it.
    expect(page.locator('#txt2img_gallery [aria-label="Thumbnail 2 of 2"]').first).to_be_attached(timeout=WAIT)
    page.screenshot(path=str(artifacts_dir / "controlnet.png"), full_page=True)


def test_lora_card_inserts_its_tag_and_the_job_uses_it(page, artifacts_dir):
    from playwright.sync_api import expect

    page.locator("#tab_lora-button").click()
    expect(page.locator("#lora_count")).to_contain_text("1 of 1 LoRAs", timeout=WAIT)
    page.locator("#lora_search textarea, #lora_search input").first.fill("inky")
    card = page.locator("#lora_cards").get_by_text("ink", exact=True)
    expect(card).to_be_visible(timeout=WAIT)
    expect(page.locator("#lora_cards img").first).to_be_visible()  # the preview picture beside the file
    page.screenshot(path=str(artifacts_dir / "lora-tab.png"), full_page=True)
    card.click()
    expect(page.locator("#lora_details")).to_contain_text("Trigger words: inky", timeout=WAIT)

    page.locator("#tab_txt2img-button").click()
    prompt = page.locator("#txt2img_prompt textarea")
    expect(prompt).to_have_value(re.compile(r"<lora:ink:1>$"))
    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r'Lora hashes: "ink: [0-9a-f]{12}"'), timeout=WAIT)
