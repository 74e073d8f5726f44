"""An IP-Adapter unit in a real browser: draw a reference picture in a ControlNet unit, choose an ip-adapter
preprocessor and an IP-Adapter model, generate, and find the unit in the infotext."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import CHROMIUM, served_webui
from tests.browser.test_controlnet_lora import choose
from tests.browser.test_img2img import mouse_stroke
from tests.browser.test_txt2img import set_number
from tests.fixtures.ip_adapter import make_ipa_models_dir

pytestmark = pytest.mark.browser
WAIT = 90_000
UNIT = "txt2img_controlnet_unit0"


@pytest.fixture(scope="module")
def ipa_server(tiny_models_dir, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    models = make_ipa_models_dir(tmp_path_factory.mktemp("ipa-browser-models"), tiny_models_dir)
    with served_webui(tmp_path_factory.mktemp("ipa-webui"), models) as served:
        yield served


@pytest.fixture
def ipa_page(browser_context, ipa_server):
    from playwright.sync_api import expect

    url, _ = ipa_server
    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=60_000)
    expect(tab.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
    try:
        yield tab
    finally:
        tab.close()


def test_choosing_an_ip_adapter_unit_steers_the_job_and_png_info_brings_the_unit_back(ipa_page, ipa_server,
                                                                                      artifacts_dir):
    from playwright.sync_api import expect

    page = ipa_page
    _, outputs = ipa_server
    before = set(outputs.glob("txt2img-images/*/*.png"))
    set_number(page, "txt2img_width", 32)
    set_number(page, "txt2img_height", 32)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    canvas = page.locator(f"#{UNIT}_image canvas").last
    expect(canvas).to_be_visible(timeout=WAIT)
    page.locator(f"#{UNIT}_image").scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse_stroke(page, (x - 60, y - 40), (x + 60, y + 40))  # the reference picture: a drawn stroke
    choose(page, f"{UNIT}_module", "ip-adapter_clip_h")
    expect(page.locator(f"#{UNIT}_note")).to_contain_text("IP-Adapter", timeout=WAIT)
    choose(page, f"{UNIT}_model", "ip-adapter_tiny")
    set_number(page, f"{UNIT}_weight", 0.6)
    page.locator(f"#{UNIT}_enable input").check()
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r'ControlNet 0: "Module: ip-adapter_clip_h, Model: ip-adapter_tiny, '
                                          r'Weight: 0.6'), timeout=WAIT)
    expect(page.locator("#txt2img_gallery img").first).to_be_visible(timeout=WAIT)
    page.screenshot(path=str(artifacts_dir / "ip-adapter.png"), full_page=True, timeout=WAIT)
    saved = sorted(set(outputs.glob("txt2img-images/*/*.png")) - before)
    assert len(saved) == 1, saved

    # A fresh page: the unit's settings below can only come from the picture's infotext.
    page.reload()
    expect(page.locator("#txt2img_generate")).to_be_visible(timeout=WAIT)
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(saved[0]))
    expect(page.locator("#pnginfo_fields")).to_contain_text("ip-adapter_clip_h", timeout=WAIT)
    page.locator("#pnginfo_send_txt2img").click()
    expect(page.locator("#pnginfo_note")).to_contain_text("add the units' pictures again", timeout=WAIT)
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    expect(page.locator(f"#{UNIT}_enable input")).to_be_checked(timeout=WAIT)
    expect(page.locator(f"#{UNIT}_module input")).to_have_value("ip-adapter_clip_h")
    expect(page.locator(f"#{UNIT}_model input")).to_have_value("ip-adapter_tiny")
    expect(page.locator(f"#{UNIT}_weight input[type=number]")).to_have_value("0.6")
    page.screenshot(path=str(artifacts_dir / "ip-adapter-restored.png"), full_page=True, timeout=WAIT)
