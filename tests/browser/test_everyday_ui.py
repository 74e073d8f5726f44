"""The everyday UI in a real browser (issue 22, the front-end half): what a new user sees in the first hour.

Previews fill their boxes, output galleries take no uploads and offer no broken Share, the status line links
the saved file, Ctrl+Enter generates and Escape interrupts, a second Generate queues another job, icon buttons
have names, and at tablet width every tab stays reachable and a canvas gets the page's width.
Screenshots go to the artifacts folder: look at them.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.test_controlnet_lora import UNIT, choose
from tests.browser.test_img2img import mouse_stroke
from tests.browser.test_login import _log_in, _status, auth_server  # noqa: F401 (a fixture)
from tests.browser.test_txt2img import PROMPT, set_number

pytestmark = pytest.mark.browser
WAIT = 60_000
GALLERIES = {"txt2img": "#txt2img_gallery", "img2img": "#img2img_gallery", "extras": "#extras_gallery"}


def open_tab(page, tab_id: str) -> None:
    page.locator(f"#tab_{tab_id}-button").click()


def rendered_size(page, selector: str) -> dict[str, int]:
    """The picture's own width and the size it is drawn at, beside the height of its box."""
    return page.locator(selector).evaluate(
        "img => ({natural: img.naturalWidth, width: img.clientWidth, height: img.clientHeight,"
        " box: img.closest('.block').clientHeight})")


def new_pngs(outputs, before: set) -> list:
    return sorted(set(outputs.rglob("*.png")) - before)


def small_job(page, width: int = 16, steps: int = 2) -> None:
    set_number(page, "txt2img_width", width)
    set_number(page, "txt2img_height", width)
    set_number(page, "txt2img_steps", steps)
    page.locator("#txt2img_prompt textarea").fill(PROMPT)


def test_output_galleries_take_no_uploads_and_offer_no_share(page, artifacts_dir):
    from playwright.sync_api import expect

    for tab, selector in GALLERIES.items():
        open_tab(page, tab)
        gallery = page.locator(selector)
        expect(gallery).to_be_visible()
        expect(gallery).not_to_contain_text("Drop")
        expect(gallery.locator("input[type=file]")).to_have_count(0)
        page.screenshot(path=str(artifacts_dir / f"gallery-{tab}.png"))
    open_tab(page, "txt2img")
    small_job(page)
    page.locator("#txt2img_generate").click()
    gallery = page.locator("#txt2img_gallery")
    expect(gallery.locator("img").first).to_be_visible(timeout=WAIT)
    gallery.hover()
    expect(gallery.get_by_label(re.compile("download", re.I))).not_to_have_count(0)
    expect(gallery.get_by_label(re.compile("share", re.I))).to_have_count(0)
    expect(page.locator("#txt2img_preview").get_by_label(re.compile("share", re.I))).to_have_count(0)
    expect(gallery).not_to_contain_text("Drop")
    gallery.screenshot(path=str(artifacts_dir / "gallery-with-picture.png"))


def test_ctrl_enter_generates_and_the_status_links_the_saved_file(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set(outputs.rglob("*.png"))
    small_job(page)
    page.locator("#txt2img_prompt textarea").press("Control+Enter")

    link = page.locator("#txt2img_status a.saved-file")
    expect(link).to_be_visible(timeout=WAIT)
    expect(page.locator("#txt2img_status")).to_contain_text("Saved:")
    # The result opening in the gallery leaves the caret in the prompt (Gradio focused the thumbnail).
    expect(page.locator("#txt2img_prompt textarea")).to_be_focused()
    page.screenshot(path=str(artifacts_dir / "status-link.png"), full_page=True)
    saved = new_pngs(outputs, before)
    assert len(saved) == 1, saved
    assert link.inner_text() == saved[0].relative_to(outputs).as_posix()
    assert link.get_attribute("target") == "_blank"
    answer = page.request.get(link.evaluate("a => a.href"))
    assert answer.status == 200
    assert answer.body() == saved[0].read_bytes()


def test_the_saved_file_link_needs_the_owners_login(auth_server, browser_context):
    from playwright.sync_api import expect

    url, outputs = auth_server
    page = _log_in(browser_context, url, "carol", "carol-pw")
    try:
        small_job(page)
        page.locator("#txt2img_generate").click()
        link = page.locator("#txt2img_status a.saved-file")
        expect(link).to_be_visible(timeout=WAIT)
        assert link.inner_text().startswith("carol/txt2img-images/")  # as History names it: under carol's folder
        href = link.evaluate("a => a.href")
        assert page.request.get(href).status == 200  # carol's session opens it
        assert _status(href) == 401  # without a login it stays closed
    finally:
        page.close()


def test_a_second_generate_queues_a_job_and_escape_interrupts(page, webui_server, artifacts_dir):
    from playwright.sync_api import expect

    _, outputs = webui_server
    before = set(outputs.rglob("*.png"))
    small_job(page, width=64, steps=40)
    set_number(page, "txt2img_batch_count", 30)  # long enough to be running when the keys are pressed
    status = page.locator("#txt2img_status")
    page.locator("#txt2img_generate").click()
    expect(status).to_contain_text("Step", timeout=WAIT)
    page.locator("#txt2img_generate").click()  # Gradio used to drop this click without a word
    expect(status).to_contain_text("1 more of your jobs queued", timeout=WAIT)

    # The live preview is small (latent-sized, 32 px with the tiny VAE) and drawn to fill its 160 px box.
    preview = page.locator("#txt2img_preview img")
    expect(preview).to_be_visible(timeout=WAIT)
    size = rendered_size(page, "#txt2img_preview img")
    page.locator("#txt2img_preview").screenshot(path=str(artifacts_dir / "live-preview.png"))
    assert size["natural"] <= size["box"] / 4 and size["height"] >= 0.8 * size["box"], size

    page.locator("#txt2img_steps").click()  # focus outside the prompt: Escape works anywhere on the tab
    page.keyboard.press("Escape")  # stops the first job; the queued one starts
    expect(status).not_to_contain_text("more of your jobs queued", timeout=WAIT)
    expect(status.locator(".status-running")).to_be_visible(timeout=WAIT)
    page.keyboard.press("Escape")
    expect(status).to_contain_text("Interrupted", timeout=WAIT)
    expect(status.locator(".status-running")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "interrupted.png"), full_page=True)
    assert len(new_pngs(outputs, before)) < 60  # both jobs stopped before their 30 pictures


def test_controlnet_preview_fills_its_box(page, artifacts_dir):
    from playwright.sync_api import expect

    set_number(page, "txt2img_width", 32)
    set_number(page, "txt2img_height", 32)
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    canvas = page.locator(f"#{UNIT}_image canvas").last
    expect(canvas).to_be_visible(timeout=WAIT)
    page.locator(f"#{UNIT}_image").scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse_stroke(page, (x - 60, y - 40), (x + 60, y + 40))
    choose(page, f"{UNIT}_module", "scribble_threshold")
    page.locator(f"#{UNIT}_preview_button").click()
    expect(page.locator(f"#{UNIT}_preview img")).to_be_visible(timeout=WAIT)
    size = rendered_size(page, f"#{UNIT}_preview img")
    page.locator(f"#{UNIT}_preview").screenshot(path=str(artifacts_dir / "controlnet-preview.png"))
    assert size["natural"] == 32 and size["height"] >= 0.8 * size["box"], size


def test_icon_buttons_have_names_and_the_fonts_cover_cjk_and_emoji(page):
    from playwright.sync_api import expect

    for name in ("Random seed", "Reuse seed", "Refresh: scan the models folders"):
        button = page.get_by_role("button", name=re.compile(name)).first
        expect(button).to_be_visible()
        expect(button).to_have_attribute("title", re.compile(name))
    expect(page.locator("#txt2img_interrupt")).to_have_attribute("title", re.compile("Escape"))
    expect(page.locator("#txt2img_generate")).to_have_attribute("title", re.compile(r"Ctrl\+Enter"))
    fonts = page.locator("#txt2img_prompt textarea").evaluate("e => getComputedStyle(e).fontFamily")
    for family in ("Microsoft YaHei", "Noto Sans CJK SC", "PingFang SC", "Noto Color Emoji", "Segoe UI Emoji"):
        assert family in fonts, fonts


def test_at_tablet_width_every_tab_is_reachable_and_the_canvas_is_wide(page, artifacts_dir):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 820, "height": 1180})
    expect(page.get_by_label("More tabs")).to_have_count(0)
    tabs = page.locator("#tabs [role=tab]")
    names = tabs.all_inner_texts()
    assert {"txt2img", "img2img", "Extras", "History", "PNG Info", "Settings", "Extensions"} <= set(names), names
    for index in range(tabs.count()):
        expect(tabs.nth(index)).to_be_in_viewport()
    page.screenshot(path=str(artifacts_dir / "tablet-txt2img.png"))
    # txt2img's results come first, under Generate; the settings follow.
    assert page.locator("#txt2img_gallery").bounding_box()["y"] < page.locator("#txt2img_steps").bounding_box()["y"]
    # A ControlNet unit's canvas and its preview stack, each the panel's width, without overlapping.
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    canvas, preview = page.locator(f"#{UNIT}_image"), page.locator(f"#{UNIT}_preview")
    expect(canvas.locator("canvas").last).to_be_visible(timeout=WAIT)
    canvas.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "tablet-controlnet.png"))
    top, bottom = canvas.bounding_box(), preview.bounding_box()
    assert top["height"] >= 300 and top["width"] >= 600 and top["y"] + top["height"] <= bottom["y"], (top, bottom)

    page.get_by_role("tab", name="Extensions").click()
    expect(page.locator("#tab_extensions")).to_be_visible()
    open_tab(page, "img2img")
    page.locator("#img2img_inpaint_tab-button").click()
    editor = page.locator("#img2maskimg")
    expect(editor).to_be_visible()
    assert editor.bounding_box()["width"] >= 600  # the page's width, not half of it
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # nothing sticks out sideways
    page.screenshot(path=str(artifacts_dir / "tablet-inpaint.png"), full_page=True)
