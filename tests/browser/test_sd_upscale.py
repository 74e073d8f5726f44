"""SD upscale in a real browser: offered in img2img's Script dropdown only, its section's controls reach the job,
and one upscaled picture (not its tiles) is saved with A1111's infotext fields."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_controlnet_lora import choose
from tests.browser.test_img2img import generate_and_wait, open_subtab
from tests.browser.test_txt2img import set_number

pytestmark = pytest.mark.browser
WAIT = 60_000


def test_sd_upscale_from_the_script_dropdown(page, webui_server, tmp_path, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    upload = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(upload)

    page.locator("#txt2img_script input").click()  # txt2img offers the X/Y/Z plot, not SD upscale
    expect(page.get_by_role("option", name="X/Y/Z plot", exact=True)).to_be_visible()
    expect(page.get_by_role("option", name="SD upscale", exact=True)).to_have_count(0)
    page.keyboard.press("Escape")

    open_subtab(page, "img2img_img2img_tab")
    page.locator("#img2img_image input[type=file]").set_input_files(str(upload))
    expect(page.locator("#img2img_width input[type=number]")).to_have_value("32", timeout=WAIT)
    set_number(page, "img2img_width", 32)  # the tile size: 3 x 3 tiles with this overlap
    set_number(page, "img2img_height", 32)
    set_number(page, "img2img_steps", 2)
    set_number(page, "img2img_denoising_strength", 0.3)
    page.locator("#img2img_ext_sd-upscale").get_by_text("SD upscale", exact=True).first.click()
    set_number(page, "img2img_sd_upscale_overlap", 16)
    expect(page.locator("#img2img_sd_upscale_upscaler input[value=Lanczos]")).to_be_checked()
    choose(page, "img2img_script", "SD upscale")
    page.screenshot(path=str(artifacts_dir / "sd-upscale.png"), full_page=True)
    with Image.open(generate_and_wait(page, outputs)) as image:  # exactly one new PNG: the tiles are not saved
        assert image.size == (64, 64)
        parameters = image.info["parameters"]
    assert "SD upscale overlap: 16" in parameters and "SD upscale upscaler: Lanczos" in parameters
    assert "Size: 32x32" in parameters
