"""The Soft inpainting panel in a real browser: PNG Info's "Send to inpaint" restores it, and a painted mask then
generates with the settings written in the picture's infotext."""

from __future__ import annotations

import pytest
from PIL import Image

from modules.core.infotext import pnginfo_for
from tests.browser.test_img2img import WAIT, canvas_centre, generate_and_wait, mouse_stroke
from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser

PARAMETERS = ("a red circle\nSteps: 2, Sampler: Euler a, Schedule type: Automatic, CFG scale: 5, Seed: 9, Size: 16x16, "
              "Model: tiny-a, Denoising strength: 0.75, Mask blur: 4, Soft inpainting enabled: True, "
              "Soft inpainting schedule bias: 2.5, Soft inpainting preservation strength: 1.5, "
              "Soft inpainting transition contrast boost: 4, Soft inpainting mask influence: 0, "
              "Soft inpainting difference threshold: 0.5, Soft inpainting difference contrast: 2")


@pytest.fixture
def soft_png(tmp_path):
    path = tmp_path / "soft.png"
    Image.new("RGB", (16, 16), (20, 40, 200)).save(path, pnginfo=pnginfo_for(PARAMETERS))
    return path


def test_send_to_inpaint_restores_soft_inpainting_and_the_next_picture_uses_it(page, webui_server, soft_png,
                                                                               artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(soft_png))
    expect(page.locator("#pnginfo_fields")).to_contain_text("Soft inpainting enabled", timeout=WAIT)
    page.locator("#pnginfo_send_inpaint").click()
    expect(page.locator("#img2maskimg canvas").last).to_be_visible(timeout=WAIT)
    panel = page.locator("#img2img_soft_inpainting")
    panel.scroll_into_view_if_needed()
    panel.locator(".label-wrap").first.click()  # open the accordion
    expect(page.locator("#img2img_soft_inpainting_enabled input[type=checkbox]")).to_be_checked(timeout=WAIT)
    expect(page.locator("#img2img_soft_schedule_bias input[type=number]")).to_have_value("2.5")
    expect(page.locator("#img2img_soft_preservation_strength input[type=number]")).to_have_value("1.5")
    page.screenshot(path=str(artifacts_dir / "soft-inpainting-restored.png"), full_page=True)
    set_number(page, "img2img_steps", 2)
    x, y = canvas_centre(page, "img2maskimg")
    mouse_stroke(page, (x - 5, y - 5), (x + 5, y + 5))
    with Image.open(generate_and_wait(page, outputs)) as image:
        parameters = image.info["parameters"]
    assert "Soft inpainting enabled: True" in parameters
    assert "Soft inpainting schedule bias: 2.5" in parameters
    assert "Soft inpainting preservation strength: 1.5" in parameters
