"""The everyday UI in a real browser, on the shipped demo models: a Chinese prompt is found in History by its
Chinese and its English words, the Settings tab shows and keeps what is stored now, img2img's results go on
to Extras, ControlNet and inpaint, and the demo LoRA's card shows its picture."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from modules.core.settings import REPO_ROOT
from tests.browser.conftest import CHROMIUM, served_webui

pytestmark = pytest.mark.browser
WAIT = 90_000
CHINESE = "红色圆形，蓝色背景"  # the glossary makes it "red circle, blue background"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The app on the shipped models (demo-shapes, the demo-night LoRA) and the shipped extensions."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    with served_webui(tmp_path_factory.mktemp("webui-everyday"), REPO_ROOT / "models") as served:
        yield served


def open_page(browser_context, url: str):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=WAIT)
    expect(tab.locator("#txt2img_generate")).to_be_visible(timeout=WAIT)
    return tab


@pytest.fixture
def page(browser_context, demo_server):
    tab = open_page(browser_context, demo_server[0])
    try:
        yield tab
    finally:
        tab.close()


def open_settings(page) -> None:
    """Select the Settings tab and wait until it has read the stored values again (typing before that would be
    replaced by them)."""
    from playwright.sync_api import expect

    stamp = page.locator("#settings_read_at")
    page.locator("#tab_settings-button").click()  # Gradio renders a tab's content when it is first selected
    expect(stamp).to_contain_text("Showing the values stored at", timeout=WAIT)
    page.wait_for_timeout(1100)  # the stamp has seconds: the next read shows another one
    before = stamp.inner_text()
    page.locator("#tab_txt2img-button").click()
    page.locator("#tab_settings-button").click()
    expect(stamp).not_to_have_text(before, timeout=WAIT)


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def test_a_chinese_prompt_is_found_in_history_by_its_chinese_and_its_english_words(page, artifacts_dir):
    from playwright.sync_api import expect

    set_number(page, "txt2img_steps", 4)
    page.locator("#txt2img_prompt textarea").fill(CHINESE)
    page.locator("#txt2img_generate").click()
    info = page.locator("#txt2img_info textarea")
    expect(info).to_have_value(re.compile(r"^red circle, blue background"), timeout=WAIT)
    expect(info).to_have_value(re.compile("Original prompt: " + CHINESE))

    page.locator("#tab_history-button").click()
    query, thumbs = page.locator("#history_query textarea"), page.locator("#history_gallery img")
    for words in ("圆形", "红色圆形", "circle", "blue background"):
        query.fill(words)
        query.press("Enter")
        expect(page.locator("#history_page")).to_contain_text("1 picture", timeout=WAIT)
        expect(thumbs).to_have_count(1, timeout=WAIT)
        if words == "圆形":
            page.screenshot(path=str(artifacts_dir / "history-chinese.png"), full_page=True, timeout=WAIT)
    query.fill("三角形")  # triangle: not drawn
    query.press("Enter")
    expect(thumbs).to_have_count(0, timeout=WAIT)


def test_settings_show_what_is_stored_now_and_keep_another_admins_change(browser_context, demo_server,
                                                                        artifacts_dir):
    from playwright.sync_api import expect

    url, _ = demo_server
    first, second = open_page(browser_context, url), open_page(browser_context, url)  # two admins, pages open
    try:
        open_settings(first)
        first.locator("#settings_default_negative textarea").fill("lowres, blurry")
        first.locator("#settings_apply").click()
        expect(first.locator("#settings_result")).to_contain_text("Settings saved: Default negative prompt",
                                                                  timeout=WAIT)

        open_settings(second)  # selecting the tab reads the settings again
        negative = second.locator("#settings_default_negative textarea")
        expect(negative).to_have_value("lowres, blurry", timeout=WAIT)
        set_number(second, "settings_preview_every", 2)
        second.locator("#settings_apply").click()
        expect(second.locator("#settings_result")).to_contain_text("Settings saved: Live preview every N steps",
                                                                   timeout=WAIT)
        second.screenshot(path=str(artifacts_dir / "settings.png"), full_page=True, timeout=WAIT)

        first.reload()  # a reload shows what is stored, and txt2img starts from the new default negative
        expect(first.locator("#txt2img_neg_prompt textarea")).to_have_value("lowres, blurry", timeout=WAIT)
        open_settings(first)
        expect(first.locator("#settings_preview_every input[type=number]")).to_have_value("2", timeout=WAIT)
        expect(first.locator("#settings_default_negative textarea")).to_have_value("lowres, blurry")
        first.locator("#settings_default_negative textarea").fill("")
        first.locator("#settings_apply").click()
        expect(first.locator("#settings_result")).to_contain_text("Settings saved", timeout=WAIT)
    finally:
        first.close()
        second.close()


def test_img2img_results_go_to_extras_controlnet_and_inpaint(page, tmp_path, artifacts_dir):
    from playwright.sync_api import expect

    source = tmp_path / "start.png"
    Image.new("RGB", (48, 48), (30, 60, 200)).save(source)
    page.locator("#tab_img2img-button").click()
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    expect(page.locator("#img2img_image img").first).to_be_visible(timeout=WAIT)
    set_number(page, "img2img_steps", 4)
    page.locator("#img2img_prompt textarea").fill("a large red circle on a blue background")
    page.locator("#img2img_generate").click()
    expect(page.locator("#img2img_gallery img").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#img2img_status")).to_contain_text("Done", timeout=WAIT)
    for button in ("img2img", "inpaint", "extras", "controlnet"):
        expect(page.locator(f"#img2img_send_to_{button}")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "img2img-sends.png"), full_page=True, timeout=WAIT)

    page.locator("#img2img_send_to_extras").click()
    expect(page.locator("#extras_image img").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#tab_extras-button")).to_have_attribute("aria-selected", "true")

    page.locator("#tab_img2img-button").click()
    page.locator("#img2img_send_to_controlnet").click()
    expect(page.locator("#tab_txt2img-button")).to_have_attribute("aria-selected", "true", timeout=WAIT)
    expect(page.locator("#txt2img_controlnet_unit0_enable input")).to_be_checked(timeout=WAIT)

    page.locator("#tab_img2img-button").click()
    page.locator("#img2img_send_to_inpaint").click()
    expect(page.locator("#img2img_inpaint_tab-button")).to_have_attribute("aria-selected", "true", timeout=WAIT)
    expect(page.locator("#img2maskimg canvas").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#img2img_width input[type=number]")).to_be_visible(timeout=WAIT)  # updates arrived
    page.screenshot(path=str(artifacts_dir / "img2img-to-inpaint.png"), full_page=True, timeout=WAIT)


def test_the_demo_lora_card_shows_its_picture(page, artifacts_dir):
    from playwright.sync_api import expect

    page.locator("#tab_lora-button").click()
    picture = page.locator("#lora_cards img[alt='demo-night preview']")
    expect(picture).to_be_visible(timeout=WAIT)
    assert picture.evaluate("img => img.complete && img.naturalWidth") == 48
    assert picture.bounding_box()["width"] >= 90  # shown at the card's size, not as a 48 px speck
    page.locator("#lora_cards").screenshot(path=str(artifacts_dir / "lora-card.png"), timeout=WAIT)


def find_in(grid, cell) -> tuple[int, int] | None:
    """Where `cell` appears unchanged inside `grid` (both RGB arrays), or None."""
    import numpy as np

    h, w = cell.shape[:2]
    ys, xs = np.nonzero((grid[: grid.shape[0] - h + 1, : grid.shape[1] - w + 1] == cell[0, 0]).all(axis=2))
    for y, x in zip(ys, xs):
        if (grid[y:y + h, x:x + w] == cell).all():
            return int(x), int(y)
    return None


def test_an_xyz_plot_at_the_demo_size_has_readable_labels_beside_its_pictures(page, demo_server, artifacts_dir):
    import numpy as np
    from playwright.sync_api import expect

    from tests.browser.test_controlnet_lora import choose

    _, outputs = demo_server
    before = set(outputs.rglob("*.png"))
    page.locator("#txt2img_prompt textarea").fill("a large red circle on a blue background")
    set_number(page, "txt2img_steps", 3)
    page.locator("#txt2img_ext_xyz-grid").get_by_text("X/Y/Z plot", exact=True).first.click()
    choose(page, "txt2img_xyz_x_type", "Prompt S/R")
    values = page.locator("#txt2img_xyz_x_values textarea, #txt2img_xyz_x_values input").first
    values.fill("red circle, green triangle on the left of a very long label, yellow square, small and large")
    choose(page, "txt2img_script", "X/Y/Z plot")
    page.locator("#txt2img_generate").click()
    expect(page.locator("#txt2img_status")).to_contain_text("Done", timeout=WAIT)
    page.screenshot(path=str(artifacts_dir / "xyz-plot.png"), full_page=True, timeout=WAIT)

    made = sorted(set(outputs.rglob("*.png")) - before)
    grids = [p for p in made if "txt2img-grids" in p.parts]
    cells = [p for p in made if "txt2img-images" in p.parts]
    assert len(grids) == 1 and len(cells) == 4, made  # the prompt as written, then 3 replacements
    grid = np.asarray(Image.open(grids[0]).convert("RGB"))
    (artifacts_dir / "xyz-grid.png").write_bytes(grids[0].read_bytes())
    places = [find_in(grid, np.asarray(Image.open(p).convert("RGB"))) for p in cells]
    assert None not in places, "a cell of the grid is not its picture unchanged: a label was drawn over it"
    assert all(Image.open(p).size == (48, 48) for p in cells)
    top = min(y for _, y in places)
    band = grid[:top].min(axis=2)
    rows = np.nonzero((band < 128).any(axis=1))[0]
    assert rows.size and rows[-1] - rows[0] + 1 >= 2 * 9, "the long label wrapped onto a second line of text"
