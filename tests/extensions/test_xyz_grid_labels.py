"""X/Y/Z grid labels at the demo model's picture size (48 px): long labels wrap into a band that grows, never
over a picture or over each other, in a font of at least 12 px."""

from __future__ import annotations

from PIL import Image

from tests.extensions.conftest import shipped_module

SIDE = 48  # the demo model's picture size
COLORS = [(200, 30, 30), (30, 160, 30), (30, 30, 200), (200, 160, 0), (150, 0, 150), (0, 150, 150)]
LONG_X = ["Prompt S/R: a large red circle on a blue background, in the center",
          "Prompt S/R: a small green triangle on a yellow background, on the left",
          "Prompt S/R: a_very_long_token_without_any_space_in_it_at_all"]
LONG_Y = ["Seed: 1", "CFG scale: 5, with a row label long enough to wrap twice over"]


def pixels(image: Image.Image) -> list:
    return list(image.convert("RGB").get_flattened_data())


def boxes_of(canvas: Image.Image) -> list[tuple[int, int, int, int]]:
    """Where each picture's colour is, as (left, top, right, bottom)."""
    found = []
    for color in COLORS:
        exact = Image.new("L", canvas.size, 0)
        exact.putdata([255 if p == color else 0 for p in pixels(canvas)])
        found.append(exact.getbbox())
    return found


def draw(column_labels, row_labels, title=""):
    grid = shipped_module("xyz-grid", "grid")
    rows = [[Image.new("RGB", (SIDE, SIDE), COLORS[r * 3 + c]) for c in range(3)] for r in range(2)]
    return grid, grid.draw_grid(rows, column_labels, row_labels, title)


def test_long_labels_never_cover_a_picture_or_each_other(tmp_path):
    grid, canvas = draw(LONG_X, LONG_Y, "Z: demo-shapes, night <lora:demo-night:1>")
    canvas.save(tmp_path / "grid.png")
    boxes = boxes_of(canvas)
    for (left, top, right, bottom), color in zip(boxes, COLORS):
        assert (right - left, bottom - top) == (SIDE, SIDE), "a picture was cut or covered"
        cell = canvas.crop((left, top, right, bottom))
        assert set(pixels(cell)) == {color}, "label pixels inside a picture"
    first_row_top = min(b[1] for b in boxes)
    band = canvas.crop((0, 0, canvas.width, first_row_top)).convert("L")
    assert band.getextrema()[0] < 100, "the labels were drawn"
    # Between two columns, a blank line from top to the pictures: no label runs into its neighbour's.
    for c in range(2):
        gap_x = (boxes[c][2] + boxes[c + 1][0]) // 2
        column = [band.getpixel((gap_x, y)) for y in range(band.height)]
        assert min(column) > 200, f"the labels of columns {c} and {c + 1} touch"
    # Row labels stay left of the pictures.
    left_band = canvas.crop((min(b[0] for b in boxes), first_row_top, canvas.width, canvas.height))
    assert set(pixels(left_band)) <= {*COLORS, (255, 255, 255)}


def test_the_font_is_legible_and_the_band_grows_with_the_text():
    grid, short = draw(["Steps: 1", "Steps: 2", "Steps: 3"], ["Seed: 1", "Seed: 2"])
    _, long = draw(LONG_X, ["Seed: 1", "Seed: 2"])
    assert grid.font_size(SIDE, SIDE) >= 12 and grid.font_size(16, 16) >= 12
    short_top, long_top = min(b[1] for b in boxes_of(short)), min(b[1] for b in boxes_of(long))
    assert long_top >= short_top + 2 * 12, "three lines of wrapped label need a taller band"
    # Ink of one text line is as tall as a 12 px font draws it (capitals and descenders ~ 10+ px).
    band = short.crop((0, 0, short.width, short_top)).convert("L")
    inked = [y for y in range(band.height) if min(band.getpixel((x, y)) for x in range(band.width)) < 128]
    assert inked and inked[-1] - inked[0] + 1 >= 9


def test_without_labels_the_pictures_touch_as_before():
    _, plain = draw([], [])
    assert plain.size == (3 * SIDE, 2 * SIDE)
