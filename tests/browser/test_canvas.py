"""The layered canvas in a real browser: mouse and pen strokes, undo that leaves the prompt alone, Clear undone,
Space+drag panning, strokes from outside the page, and the mask layer reaching Python as the mask.

The component runs in a small app (canvas_app.py) whose "Read" button writes what Python received, so each
test checks the pixels that reached the server. Screenshots of each state go to the artifacts folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.conftest import CHROMIUM, _answers, _free_port, _log_tail

APP = Path(__file__).with_name("canvas_app.py")
SURFACE = "#canvas canvas[data-canvas-surface]"


@pytest.fixture(scope="module")
def canvas_app(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    base = tmp_path_factory.mktemp("canvas-app")
    out = base / "read"
    out.mkdir()
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", GRADIO_TEMP_DIR=str(base / "gradio-tmp"))
    log = base / "server.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, str(APP), str(port), str(out)], stdout=log_file,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the canvas app did not start:\n{_log_tail(log)}")
            time.sleep(0.5)
        yield url, out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


@pytest.fixture
def canvas_page(browser_context, canvas_app):
    from playwright.sync_api import expect

    url, out = canvas_app
    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=60_000)
    expect(tab.locator(SURFACE)).to_be_visible(timeout=60_000)
    try:
        yield tab, out
    finally:
        tab.close()


def _box(page) -> dict:
    return page.locator(SURFACE).bounding_box()


def _drag(page, start, end, steps=12) -> None:
    box = _box(page)
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=steps)
    page.mouse.up()


def _hover(page) -> None:
    """The pointer onto the canvas (a read clicks a button elsewhere), so the canvas's shortcuts apply."""
    box = _box(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _read(page, out: Path) -> dict:
    """What Python received from the canvas, once the canvas has sent its latest edit."""
    from playwright.sync_api import expect

    expect(page.locator("#canvas")).to_have_attribute("data-pending", "0")
    result = page.locator("#result textarea")
    before = result.input_value()
    page.click("#read")
    expect(result).not_to_have_value(before)
    return json.loads((out / "read.json").read_text())


def _pen_stroke(page, start, end, force: float, steps: int = 12) -> None:
    """A pen stroke through the DevTools protocol, carrying `force` as the pen's pressure."""
    box = _box(page)
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"] + start[0], box["y"] + start[1]
    x1, y1 = box["x"] + end[0], box["y"] + end[1]
    common = {"button": "left", "pointerType": "pen", "force": force}
    cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0, "y": y0, "pointerType": "pen"})
    cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x0, "y": y0, "buttons": 1, "clickCount": 1,
                                          **common})
    for i in range(1, steps + 1):
        t = i / steps
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t,
                                              "buttons": 1, **common})
    cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x1, "y": y1, "buttons": 0, "clickCount": 1,
                                          **common})
    cdp.detach()


def _thickness(layer: Image.Image, column: int) -> int:
    alpha = layer.getchannel("A")
    return sum(1 for y in range(layer.height) if alpha.getpixel((column, y)) > 0)


def test_a_mouse_stroke_reaches_python_in_the_paint_layer_and_not_in_the_mask(canvas_page, artifacts_dir):
    page, out = canvas_page
    _drag(page, (200, 150), (500, 300))
    page.screenshot(path=str(artifacts_dir / "mouse-stroke.png"))
    data = _read(page, out)
    assert data["size"] == [256, 192]
    assert data["layers"]["paint"]["bbox"] is not None
    assert data["layers"]["mask"]["bbox"] is None
    assert Image.open(out / "mask.png").getbbox() is None


def test_a_light_pen_stroke_is_thinner_than_a_firm_one(canvas_page, artifacts_dir):
    page, out = canvas_page
    _pen_stroke(page, (200, 120), (600, 120), force=0.15)
    _pen_stroke(page, (200, 330), (600, 330), force=1.0)
    page.screenshot(path=str(artifacts_dir / "pen-pressure.png"))
    _read(page, out)
    layer = Image.open(out / "layer-paint.png")
    mid = layer.width // 2
    top = layer.crop((0, 0, layer.width, layer.height // 2))
    bottom = layer.crop((0, layer.height // 2, layer.width, layer.height))
    light, firm = _thickness(top, mid), _thickness(bottom, mid)
    assert light > 0 and firm > 0, (light, firm)
    assert light < firm * 0.7, f"light stroke {light}px vs firm stroke {firm}px"


def test_with_pressure_on_opacity_a_light_pen_stroke_is_fainter_and_as_wide_as_a_firm_one(canvas_page,
                                                                                          artifacts_dir):
    page, out = canvas_page
    page.locator("#canvas [data-canvas-field=pressure]").select_option("opacity")
    _pen_stroke(page, (200, 120), (600, 120), force=0.15)
    _pen_stroke(page, (200, 330), (600, 330), force=1.0)
    _drag(page, (200, 230), (600, 230))  # a mouse draws at full pressure: as opaque as the firm pen
    page.screenshot(path=str(artifacts_dir / "pen-pressure-opacity.png"))
    _read(page, out)
    layer = Image.open(out / "layer-paint.png")
    alpha = layer.getchannel("A")
    mid = layer.width // 2
    column = [alpha.getpixel((mid, y)) for y in range(layer.height)]
    third = layer.height // 3
    light, mouse, firm = (max(column[i * third:(i + 1) * third]) for i in range(3))
    assert 0 < light < 0.5 * firm, f"light stroke alpha {light} vs firm stroke alpha {firm}"
    assert firm >= 250 and mouse >= 250, (firm, mouse)
    top = layer.crop((0, 0, layer.width, third))
    bottom = layer.crop((0, 2 * third, layer.width, layer.height))
    light_width, firm_width = _thickness(top, mid), _thickness(bottom, mid)
    assert abs(light_width - firm_width) <= max(2, 0.25 * firm_width), (light_width, firm_width)


def test_ctrl_z_on_the_canvas_undoes_the_stroke_and_leaves_the_prompt_alone(canvas_page, artifacts_dir):
    page, out = canvas_page
    prompt = page.locator("#prompt textarea")
    prompt.fill("a red fox")
    _drag(page, (200, 150), (500, 300))
    page.keyboard.press("Control+z")
    page.screenshot(path=str(artifacts_dir / "undo.png"))
    data = _read(page, out)
    assert data["layers"]["paint"]["bbox"] is None
    assert prompt.input_value() == "a red fox"
    # the prompt's own undo still works while it has the focus, and leaves the canvas alone
    _drag(page, (200, 150), (500, 300))
    prompt.click()
    page.keyboard.type(" at dusk")
    page.keyboard.press("Control+z")
    assert prompt.input_value() != "a red fox at dusk"
    assert _read(page, out)["layers"]["paint"]["bbox"] is not None
    prompt.focus()
    _hover(page)  # pointer on the canvas, but the focus is in the prompt: the prompt's undo, not the canvas's
    page.keyboard.press("Control+z")
    assert _read(page, out)["layers"]["paint"]["bbox"] is not None


def test_clear_then_ctrl_z_restores_the_drawing_and_redo_clears_again(canvas_page, artifacts_dir):
    page, out = canvas_page
    _drag(page, (200, 150), (500, 300))
    before = _read(page, out)["layers"]["paint"]["bbox"]
    page.click("#canvas [data-canvas-action=clear]")
    page.screenshot(path=str(artifacts_dir / "cleared.png"))
    assert _read(page, out)["layers"]["paint"]["bbox"] is None
    _hover(page)
    page.keyboard.press("Control+z")
    page.screenshot(path=str(artifacts_dir / "clear-undone.png"))
    assert _read(page, out)["layers"]["paint"]["bbox"] == before
    _hover(page)
    page.keyboard.press("Control+Shift+z")
    assert _read(page, out)["layers"]["paint"]["bbox"] is None
    _hover(page)
    page.keyboard.press("Control+y")  # nothing left to redo: still clear
    assert _read(page, out)["layers"]["paint"]["bbox"] is None


def test_space_drag_pans_without_drawing(canvas_page, artifacts_dir):
    page, out = canvas_page
    _drag(page, (400, 200), (500, 200))
    reference = _read(page, out)["layers"]["paint"]["bbox"]
    _hover(page)
    page.keyboard.press("Control+z")
    page.keyboard.down(" ")
    _drag(page, (300, 250), (360, 250))
    page.keyboard.up(" ")
    page.screenshot(path=str(artifacts_dir / "panned.png"))
    assert _read(page, out)["layers"]["paint"]["bbox"] is None  # the pan drew nothing
    _drag(page, (400, 200), (500, 200))
    moved = _read(page, out)["layers"]["paint"]["bbox"]
    assert moved[0] < reference[0] - 15, (reference, moved)  # the page moved right under the same screen stroke
    assert abs((moved[2] - moved[0]) - (reference[2] - reference[0])) <= 2


def test_a_stroke_that_starts_outside_the_page_draws_inside_it(canvas_page, artifacts_dir):
    page, out = canvas_page
    box = _box(page)
    # the page is centred: the far left of the surface is the grey margin
    _drag(page, (5, box["height"] / 2), (box["width"] / 2, box["height"] / 2))
    page.screenshot(path=str(artifacts_dir / "from-outside.png"))
    bbox = _read(page, out)["layers"]["paint"]["bbox"]
    assert bbox is not None and bbox[0] == 0


def test_the_mask_layer_is_the_mask_python_reads(canvas_page, artifacts_dir):
    page, out = canvas_page
    page.click("#canvas [data-layer=mask] [data-layer-action=select]")
    _drag(page, (300, 200), (450, 260))
    page.click("#canvas [data-layer=paint] [data-layer-action=select]")
    page.click("#canvas [data-canvas-colour='#ffffff']")
    _drag(page, (300, 350), (450, 350))  # white paint: never part of the mask
    page.screenshot(path=str(artifacts_dir / "mask-layer.png"))
    data = _read(page, out)
    mask = Image.open(out / "mask.png")
    layer = Image.open(out / "layer-mask.png")
    assert data["layers"]["mask"]["kind"] == "mask" and 0 < data["layers"]["mask"]["opacity"] < 1
    assert mask.getbbox() == layer.getchannel("A").getbbox()
    assert data["layers"]["paint"]["bbox"][1] > mask.getbbox()[3]  # the paint stroke lies below the mask


def test_keys_change_tool_and_size_and_the_help_lists_them(canvas_page, artifacts_dir):
    from playwright.sync_api import expect

    page, out = canvas_page
    box = _box(page)
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    size = page.locator("#canvas [data-canvas-readout=size]")
    start = int(size.inner_text())
    page.keyboard.press("]")
    assert int(size.inner_text()) > start
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(size.inner_text()) < start
    page.keyboard.press("e")
    expect(page.locator("#canvas [data-canvas-action=eraser]")).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("b")
    expect(page.locator("#canvas [data-canvas-action=brush]")).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("?")
    expect(page.locator("#canvas [data-canvas-help]")).to_contain_text("Space")
    page.screenshot(path=str(artifacts_dir / "help.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#canvas [data-canvas-help]")).to_have_count(0)


def test_wheel_zooms_around_the_cursor_and_fit_brings_the_page_back(canvas_page, artifacts_dir):
    page, out = canvas_page
    zoom = page.locator("#canvas [data-canvas-readout=zoom]")
    fitted = zoom.inner_text()
    box = _box(page)
    _drag(page, (300, 200), (300, 200), steps=1)  # a dot under the cursor
    dot = _read(page, out)["layers"]["paint"]["bbox"]
    _hover(page)
    page.keyboard.press("Control+z")
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(300)
    assert int(zoom.inner_text().rstrip("%")) > int(fitted.rstrip("%"))
    _drag(page, (300, 200), (300, 200), steps=1)  # the same screen point is the same page point after zooming
    zoomed = _read(page, out)["layers"]["paint"]["bbox"]
    centre = ((dot[0] + dot[2]) / 2, (dot[1] + dot[3]) / 2)
    assert abs((zoomed[0] + zoomed[2]) / 2 - centre[0]) <= 2 and abs((zoomed[1] + zoomed[3]) / 2 - centre[1]) <= 2
    page.screenshot(path=str(artifacts_dir / "zoomed.png"))
    page.click("#canvas [data-canvas-action=fit]")
    assert zoom.inner_text() == fitted


def test_two_fingers_pinch_zoom_and_pan_without_drawing(canvas_page, artifacts_dir):
    page, out = canvas_page
    zoom = page.locator("#canvas [data-canvas-readout=zoom]")
    fitted = int(zoom.inner_text().rstrip("%"))
    box = _box(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)

    def touch(kind, spread, shift=0.0):
        points = [] if kind == "touchEnd" else [{"x": cx - spread + shift, "y": cy, "id": 1},
                                                {"x": cx + spread + shift, "y": cy, "id": 2}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 40)
    for step in range(1, 9):
        touch("touchMove", 40 + step * 10, shift=step * 3)
    touch("touchEnd", 0)
    cdp.detach()
    page.screenshot(path=str(artifacts_dir / "pinched.png"))
    assert int(zoom.inner_text().rstrip("%")) > fitted * 1.3
    # the fingers drew nothing (an untouched canvas still holds the value Python set: no layer sent yet)
    assert _read(page, out)["layers"].get("paint", {}).get("bbox") is None


def test_the_eraser_removes_paint_and_half_opacity_paints_half_alpha(canvas_page, artifacts_dir):
    page, out = canvas_page
    set_opacity = "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    opacity = page.locator("#canvas [data-canvas-field=opacity]")
    opacity.evaluate(set_opacity, "0.5")
    _drag(page, (200, 200), (560, 200))
    opacity.evaluate(set_opacity, "1")  # the eraser takes the brush's opacity too: a full erase
    _hover(page)
    page.keyboard.press("e")
    _drag(page, (380, 120), (380, 300))  # a vertical eraser stroke across the middle of the line
    page.screenshot(path=str(artifacts_dir / "erased.png"))
    _read(page, out)
    alpha = Image.open(out / "layer-paint.png").getchannel("A")
    bbox = alpha.getbbox()
    row = (bbox[1] + bbox[3]) // 2
    values = [alpha.getpixel((x, row)) for x in range(alpha.width)]
    painted = [v for v in values if v > 0]
    assert painted and 110 <= max(painted) <= 145, f"half opacity gave alpha {max(painted)}"
    gap = [x for x in range(bbox[0], bbox[2]) if values[x] == 0]  # where the eraser crossed the line
    assert gap and bbox[0] < min(gap) and max(gap) < bbox[2] - 1, "the eraser left the line whole"


def _read_now(page, out: Path, trigger: str) -> dict:
    """What Python received from a Read that `trigger` (page JavaScript) clicks, without waiting for the canvas."""
    result = page.locator("#result textarea")
    before = result.input_value()
    page.evaluate(trigger)
    return _wait_read(page, result, before, out)


def _wait_read(page, result, before: str, out: Path) -> dict:
    from playwright.sync_api import expect

    expect(result).not_to_have_value(before)
    return json.loads((out / "read.json").read_text())


def test_a_read_clicked_the_moment_a_stroke_ends_or_an_undo_is_pressed_gets_that_edit(canvas_page, artifacts_dir):
    """The canvas sends its edits a moment later (to encode once per burst), so a Generate clicked as the stroke
    ends used to read the value from before it; the value Gradio reads for an event is now always current."""
    page, out = canvas_page
    result = page.locator("#result textarea")
    before = result.input_value()
    # Read is clicked by a timer started as the pointer comes up: before the canvas's own sending delay is over
    page.evaluate("""() => window.addEventListener('pointerup',
        () => setTimeout(() => document.querySelector('#read').click(), 0), {once: true, capture: true})""")
    _drag(page, (200, 150), (500, 300))
    data = _wait_read(page, result, before, out)
    page.screenshot(path=str(artifacts_dir / "read-at-once.png"))
    assert data["layers"].get("paint", {}).get("bbox") is not None, "the stroke had not reached Python"
    # Undo and Read in one go (one task): the read gets the page without the stroke
    data = _read_now(page, out, """() => {
        document.querySelector('#canvas [data-canvas-action=undo]').click();
        document.querySelector('#read').click(); }""")
    assert data["layers"]["paint"]["bbox"] is None, "the undo had not reached Python"


# ------------------------------------------------------------------------------------------ in the app
def _open_img2img_subtab(page, subtab: str) -> None:
    page.locator("#tab_img2img-button").click()
    page.locator(f"#{subtab}-button").click()


def test_the_inpaint_mask_layer_is_the_mask_the_job_uses_and_paint_goes_into_the_picture(page, webui_server,
                                                                                         tmp_path, artifacts_dir):
    import numpy as np
    from playwright.sync_api import expect

    from tests.browser.test_img2img import WAIT, generate_and_wait
    from tests.browser.test_txt2img import set_number

    _, outputs = webui_server
    upload = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(upload)
    _open_img2img_subtab(page, "img2img_inpaint_tab")
    editor = page.locator("#img2maskimg")
    expect(editor.locator("canvas[data-canvas-surface]")).to_be_visible(timeout=WAIT)
    # Flux Kontext's reference picture has its field on this tab (the request's second picture).
    expect(page.locator("#img2img_inpaint_reference")).to_be_visible(timeout=WAIT)
    editor.locator("input[type=file]").set_input_files(str(upload))
    expect(page.locator("#img2img_width input[type=number]")).to_have_value("64", timeout=WAIT)
    for name, value in (("img2img_steps", 2), ("img2img_mask_blur", 0)):
        set_number(page, name, value)
    editor.scroll_into_view_if_needed()
    surface = editor.locator("canvas[data-canvas-surface]")
    box = surface.bounding_box()
    scale = min((box["width"] - 24) / 64, (box["height"] - 24) / 64)  # the page is fitted, centred
    left, top = box["x"] + (box["width"] - 64 * scale) / 2, box["y"] + (box["height"] - 64 * scale) / 2

    def at(x, y):
        return left + x * scale, top + y * scale

    # the mask layer is selected on the Inpaint tab: a horizontal mask stroke across row 16
    page.mouse.move(*at(8, 16))
    page.mouse.down()
    page.mouse.move(*at(56, 16), steps=10)
    page.mouse.up()
    # white paint on the paint layer across row 48: part of the picture, never of the mask
    editor.locator("[data-layer=paint] [data-layer-action=select]").click()
    editor.locator("[data-canvas-colour='#2563eb']").click()
    page.mouse.move(*at(8, 48))
    page.mouse.down()
    page.mouse.move(*at(56, 48), steps=10)
    page.mouse.up()
    expect(editor).to_have_attribute("data-pending", "0")
    page.screenshot(path=str(artifacts_dir / "inpaint-layers.png"))
    with Image.open(generate_and_wait(page, outputs)) as image:
        result = np.asarray(image.convert("RGB"), dtype=np.int16)
    original = np.asarray(Image.open(upload).convert("RGB"), dtype=np.int16)
    changed = np.abs(result - original).max(axis=2) > 0
    rows = set(np.nonzero(changed.any(axis=1))[0].tolist())
    assert changed[15:18, 12:52].mean() > 0.5, "the masked band was not repainted"
    # what changed: the mask stroke's rows (repainted) and the paint stroke's rows (the paint is in the picture);
    # nothing between them, so the paint was not taken as mask
    assert rows <= set(range(12, 21)) | set(range(45, 52)), f"rows changed outside the two strokes: {sorted(rows)}"
    assert not changed[22:44].any()
    painted = result[48, 16:48]
    assert (np.abs(painted - [37, 99, 235]).max(axis=1) <= 2).mean() > 0.9, "the paint stroke is not in the picture"


def test_outpaint_on_the_canvas_grows_the_picture_on_the_chosen_sides(page, webui_server, tmp_path, artifacts_dir):
    import numpy as np
    from playwright.sync_api import expect

    from tests.browser.test_img2img import WAIT, generate_and_wait
    from tests.browser.test_txt2img import set_number

    _, outputs = webui_server
    upload = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(upload)  # 48x32
    _open_img2img_subtab(page, "img2img_outpaint_tab")
    editor = page.locator("#img2img_outpaint_image")
    expect(editor.locator("canvas[data-canvas-surface]")).to_be_visible(timeout=WAIT)
    pixels = page.locator("#img2img_outpaint_pixels input[type=number]")
    set_number(page, "img2img_outpaint_pixels", 64)
    editor.locator("input[type=file]").set_input_files(str(upload))
    expect(pixels).to_have_value("16", timeout=WAIT)  # a quarter of the longer side, set by the upload
    expect(editor.locator("[data-canvas-readout=zoom]")).not_to_have_text("", timeout=WAIT)
    directions = page.locator("#img2img_outpaint_directions")
    for side in ("up", "right"):
        directions.get_by_label(side, exact=True).uncheck()
    set_number(page, "img2img_steps", 2)
    editor.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "outpaint-canvas.png"))
    with Image.open(generate_and_wait(page, outputs)) as image:
        result = np.asarray(image.convert("RGB"), dtype=np.int16)
        parameters = image.info["parameters"]
    # 16 px more on the left and at the bottom only; the picture itself sits untouched at the top right
    assert result.shape[:2] == (32 + 16, 48 + 16), result.shape
    assert "Outpaint: left 16 down 16" in parameters, parameters
    original = np.asarray(Image.open(upload).convert("RGB"), dtype=np.int16)
    assert np.abs(result[:32, 16:] - original).max() <= 2, "the picture moved or changed"


def test_a_drawn_control_picture_turns_its_unit_on(page, artifacts_dir):
    from playwright.sync_api import expect

    unit = "txt2img_controlnet_unit0"
    page.locator("#txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    surface = page.locator(f"#{unit}_image canvas[data-canvas-surface]")
    expect(surface).to_be_visible(timeout=60_000)
    enable = page.locator(f"#{unit}_enable input")
    expect(enable).not_to_be_checked()
    page.locator(f"#{unit}_image").scroll_into_view_if_needed()
    box = surface.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 50, y - 30)
    page.mouse.down()
    page.mouse.move(x + 50, y + 30, steps=10)
    page.mouse.up()
    expect(enable).to_be_checked(timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "control-unit-on.png"))


def test_regions_painted_on_their_layers_become_the_jobs_regions(page, artifacts_dir):
    import numpy as np
    from playwright.sync_api import expect

    from tests.browser.test_txt2img import set_number

    for name, value in (("txt2img_width", 32), ("txt2img_height", 16), ("txt2img_steps", 2)):
        set_number(page, name, value)
    page.locator("#txt2img_prompt textarea").fill("two shapes")
    page.locator("#txt2img_regions").get_by_text("Regions", exact=True).first.click()
    page.locator("#txt2img_rg_enable input").check()
    box_field = page.locator("#txt2img_rg_0_box")
    expect(box_field).to_be_visible()  # Boxes is the first layout
    page.locator("#txt2img_rg_source").get_by_text("Painted", exact=True).click()
    expect(box_field).to_be_hidden()  # boxes mean nothing to painted regions
    expect(page.locator("#txt2img_rg_colour_map")).to_be_hidden()
    page.locator("#txt2img_rg_page").click()
    editor = page.locator("#txt2img_rg_canvas")
    expect(editor.locator("[data-canvas-readout=zoom]")).not_to_have_text("", timeout=60_000)
    surface = editor.locator("canvas[data-canvas-surface]")
    expect(editor.locator("[data-canvas-action=add-layer]")).to_have_count(0)  # a paint layer means nothing here
    editor.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = surface.bounding_box()
    scale = min((box["width"] - 24) / 32, (box["height"] - 24) / 16)
    left, top = box["x"] + (box["width"] - 32 * scale) / 2, box["y"] + (box["height"] - 16 * scale) / 2

    def fill(x0, x1):  # a few strokes over columns x0..x1 of the 32x16 page
        for row in (2, 5, 8, 11, 14):
            page.mouse.move(left + x0 * scale, top + row * scale)
            page.mouse.down()
            page.mouse.move(left + x1 * scale, top + row * scale, steps=6)
            page.mouse.up()

    fill(1, 14)  # region-1 is selected first
    editor.locator("[data-layer=region-2] [data-layer-action=select]").click()
    expect(editor.locator("[data-canvas-field=colour]")).to_have_value("#3cb44b")  # region 2's own colour
    fill(18, 31)
    page.locator("#txt2img_rg_0_prompt textarea").fill("a red circle")
    page.locator("#txt2img_rg_1_prompt textarea").fill("a blue square")
    page.locator("#txt2img_rg_show").click()
    preview = page.locator("#txt2img_rg_preview img")
    expect(preview).to_be_visible(timeout=60_000)
    page.locator("#txt2img_regions").screenshot(path=str(artifacts_dir / "painted-regions.png"))
    src = preview.get_attribute("src")
    import io

    layout = np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"), dtype=np.int16)
    assert layout.shape[:2] == (16, 32)
    left_tint, right_tint = layout[:, 10:15].mean(axis=(0, 1)), layout[:, 27:31].mean(axis=(0, 1))
    assert (layout[:, 10:15] < 250).any() and (layout[:, 27:31] < 250).any(), "a painted half is not in the layout"
    assert np.abs(left_tint - right_tint).max() > 20, "the two painted halves are one region in the layout"
    page.locator("#txt2img_generate").click()
    expect(page.locator("#txt2img_info textarea")).to_have_value(re.compile(r"Regions: .*a red circle.*a blue square"),
                                                                 timeout=90_000)
