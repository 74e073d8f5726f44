"""txt2img in a real browser: generate a tiny picture, see it and its infotext, find it saved on disk."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

PROMPT = "a large red circle on a blue background"


def set_number(page, elem_id: str, value: int | str) -> None:
    """Type into the number box of a slider or gr.Number and commit it (Gradio reads it on change/blur)."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def test_generate_shows_picture_and_saves_png(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    folder = outputs / "txt2img-images"
    before = set(folder.glob("*/*.png"))  # the server is shared with the other browser tests
    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_steps", 2)
    expect(page.locator("#txt2img_width input[type=number]")).to_have_value("16")
    expect(page.locator("#txt2img_height input[type=number]")).to_have_value("16")
    page.locator("#txt2img_prompt textarea").fill(PROMPT)
    page.locator("#txt2img_generate").click()

    expect(page.locator("#txt2img_gallery img").first).to_be_visible(timeout=60_000)
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r"Steps: 2"), timeout=60_000)
    expect(info).to_have_value(re.compile(re.escape(PROMPT)))
    expect(page.locator("#txt2img_status")).to_contain_text("Done")
    page.screenshot(path=str(artifacts_dir / "txt2img.png"), full_page=True)

    days = {d.strftime("%Y-%m-%d") for d in (date.today(), date.today() - timedelta(days=1))}  # around midnight
    saved = sorted(set(folder.glob("*/*.png")) - before)
    assert len(saved) == 1, f"expected one new PNG under {folder}, found {saved}"
    assert saved[0].parent.name in days
    with Image.open(saved[0]) as img:
        parameters = img.info["parameters"]
        assert img.size == (16, 16)
    assert parameters.startswith(PROMPT)
    assert "Model: tiny-" in parameters
    assert "Seed:" in parameters
    assert "Steps: 2" in parameters


def test_invalid_seed_shows_clear_message(page):
    from playwright.sync_api import expect

    set_number(page, "txt2img_width", 16)
    set_number(page, "txt2img_height", 16)
    set_number(page, "txt2img_seed", -5)
    page.locator("#txt2img_prompt textarea").fill(PROMPT)
    page.locator("#txt2img_generate").click()

    status = page.locator("#txt2img_status")
    expect(status).to_contain_text("Seed must be -1", timeout=60_000)
    expect(status.locator(".status-error")).to_be_visible()
    assert "Traceback" not in page.content()
    expect(page.locator("#txt2img_gallery img")).to_have_count(0)
