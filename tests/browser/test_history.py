"""History in a real browser: pictures already in outputs/ are indexed at start, found by a Chinese search,
deleted and brought back, and sent to img2img with their parameters."""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image

from modules.core.infotext import pnginfo_for
from tests.browser.conftest import CHROMIUM, served_webui

pytestmark = pytest.mark.browser
WAIT = 60_000
FOX = "一只蓝色的狐狸, a blue fox in the snow"
FOX_TEXT = (f"{FOX}\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 5, "
            "Seed: 222, Size: 24x32, Model hash: 0123456789, Model: not-here, Version: v1.10.1")
CIRCLE_TEXT = "a red circle\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 111, Size: 16x16, Model: not-here"


@pytest.fixture(scope="module")
def history_server(tiny_models_dir, tmp_path_factory):
    """A server whose outputs/ already holds two pictures saved before it started (A1111-style, no index)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    base = tmp_path_factory.mktemp("webui-history")
    for day, name, size, color, text in (("2024-05-06", "00000-111.png", (16, 16), (220, 20, 20), CIRCLE_TEXT),
                                         ("2024-05-07", "00000-222.png", (24, 32), (20, 60, 220), FOX_TEXT)):
        folder = base / "outputs" / "txt2img-images" / day
        folder.mkdir(parents=True)
        Image.new("RGB", size, color).save(folder / name, pnginfo=pnginfo_for(text))
    with served_webui(base, tiny_models_dir) as served:
        yield served


@pytest.fixture
def history_page(browser_context, history_server):
    from playwright.sync_api import expect

    url, _ = history_server
    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=WAIT)
    expect(tab.locator("#txt2img_generate")).to_be_visible(timeout=WAIT)
    try:
        yield tab
    finally:
        tab.close()


def test_search_delete_undo_and_send_to_img2img(history_page, history_server, artifacts_dir):
    from playwright.sync_api import expect

    page = history_page
    _, outputs = history_server
    fox_file = outputs / "txt2img-images" / "2024-05-07" / "00000-222.png"
    page.get_by_role("tab", name="History").click()
    thumbs = page.locator("#history_gallery img")
    expect(thumbs).to_have_count(2, timeout=WAIT)  # both found by the start-up scan, shown on opening the tab
    expect(page.locator("#history_page")).to_contain_text("2 pictures")

    query = page.locator("#history_query textarea")
    query.fill("狐狸")  # two characters: below the trigram index's reach, answered by the LIKE fallback
    query.press("Enter")
    expect(thumbs).to_have_count(1, timeout=WAIT)
    thumbs.first.click()
    expect(page.locator("#history_prompt textarea")).to_have_value(FOX, timeout=WAIT)
    expect(page.locator("#history_fields")).to_contain_text("222")
    page.screenshot(path=str(artifacts_dir / "history.png"), full_page=True)

    page.locator("#history_delete").click()
    expect(page.locator("#history_status")).to_contain_text("to the trash", timeout=WAIT)
    expect(thumbs).to_have_count(0, timeout=WAIT)
    deadline = time.monotonic() + 30
    while fox_file.exists():
        assert time.monotonic() < deadline, "the file was not moved to the trash"
        time.sleep(0.2)
    assert list((outputs / ".trash").rglob("*00000-222.png")), "the picture is not in the trash folder"
    page.locator("#history_undo").click()
    expect(page.locator("#history_status")).to_contain_text("Restored", timeout=WAIT)
    expect(thumbs).to_have_count(1, timeout=WAIT)
    assert fox_file.is_file() and FOX in Image.open(fox_file).info["parameters"]

    thumbs.first.click()
    expect(page.locator("#history_prompt textarea")).to_have_value(FOX, timeout=WAIT)
    page.locator("#history_send_img2img").click()
    expect(page.locator("#img2img_prompt textarea")).to_have_value(FOX, timeout=WAIT)  # the img2img tab is shown
    expect(page.locator("#img2img_neg_prompt textarea")).to_have_value("blurry")
    expect(page.locator("#img2img_image img")).to_be_visible(timeout=WAIT)
    expect(page.locator("#img2img_steps input[type=number]")).to_have_value("3")
    expect(page.locator("#img2img_width input[type=number]")).to_have_value("24")
    expect(page.locator("#img2img_height input[type=number]")).to_have_value("32")
    expect(page.locator("#img2img_cfg_scale input[type=number]")).to_have_value(re.compile(r"^5(\.0)?$"))

    # The same picture as a ControlNet control image: unit 0 of txt2img gets it and is enabled.
    page.get_by_role("tab", name="History").click()
    page.locator("#history_send_controlnet").click()
    expect(page.locator("#txt2img_prompt textarea")).to_be_visible(timeout=WAIT)  # the txt2img tab is shown
    page.locator("#txt2img_controlnet").get_by_text("ControlNet").first.click()
    expect(page.locator("#txt2img_controlnet_unit0_enable input")).to_be_checked(timeout=WAIT)
