"""Picture operations behind img2img/inpaint: resize modes, masks, crop regions, compositing, outpaint canvases."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.engine import imaging


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def striped(width: int, height: int) -> Image.Image:
    """Left half red, right half blue, a green top row: easy to see what a resize keeps."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    ImageDraw.Draw(image).rectangle((width // 2, 0, width, height), fill=(0, 0, 255))
    ImageDraw.Draw(image).line((0, 0, width, 0), fill=(0, 255, 0))
    return image


def test_just_resize_stretches_to_the_size():
    out = imaging.resize_image(0, striped(40, 20), 16, 16)
    assert out.size == (16, 16)
    assert tuple(arr(out)[8, 2]) == (255, 0, 0) and tuple(arr(out)[8, 13]) == (0, 0, 255)


def test_crop_and_resize_covers_and_centres():
    out = imaging.resize_image(1, striped(40, 20), 16, 16)  # 2:1 into 1:1: the middle square is kept
    assert out.size == (16, 16)
    a = arr(out)
    assert abs(a[8, 0] - [255, 0, 0]).max() < 30 and abs(a[8, 15] - [0, 0, 255]).max() < 30
    assert abs(a[0, 8]).max() > 0  # no empty band: the picture covers the canvas
    assert a[0, 8, 1] > 100  # the green top row survived (no vertical crop)


def test_resize_and_fill_fits_and_stretches_the_edges():
    out = imaging.resize_image(2, striped(40, 20), 16, 16)  # fits as 16x8, bands above and below
    a = arr(out)
    assert out.size == (16, 16)
    # The band above repeats the picture's top row (greenish), the band below its bottom row.
    assert np.array_equal(a[0], a[4]) and np.array_equal(a[3], a[4]) and a[4, 2, 1] > 50
    assert np.array_equal(a[15], a[11])
    assert abs(a[15, 2] - [255, 0, 0]).max() < 30 and abs(a[15, 13] - [0, 0, 255]).max() < 30


def test_same_size_resize_is_an_exact_copy():
    image = striped(16, 16)
    for mode in (0, 1, 2):
        assert np.array_equal(arr(imaging.resize_image(mode, image, 16, 16)), arr(image))


def test_flatten_puts_transparency_on_white():
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    image.putpixel((0, 0), (10, 20, 30, 255))
    flat = imaging.flatten(image)
    assert flat.mode == "RGB" and flat.getpixel((1, 1)) == (255, 255, 255) and flat.getpixel((0, 0)) == (10, 20, 30)


def test_mask_from_alpha_of_a_brush_layer():
    layer = np.zeros((8, 8, 4), dtype=np.uint8)
    layer[2:4, 3:6] = (255, 255, 255, 200)
    layer[6, 6] = (0, 0, 0, 1)  # a faint stroke counts
    mask = imaging.mask_from_alpha(layer)
    assert mask.mode == "L" and mask.getbbox() == (3, 2, 7, 7)
    assert arr(mask).sum() == 255 * 7
    with pytest.raises(ValueError, match="RGBA"):
        imaging.mask_from_alpha(np.zeros((8, 8, 3), dtype=np.uint8))


def test_crop_region_is_padded_clipped_and_grown_to_the_aspect():
    mask = Image.new("L", (64, 32), 0)
    ImageDraw.Draw(mask).rectangle((10, 10, 13, 13), fill=255)
    assert imaging.crop_region(mask, 4) == (6, 6, 18, 18)
    assert imaging.crop_region(mask, 100) == (0, 0, 64, 32)
    assert imaging.crop_region(Image.new("L", (8, 8)), 4) is None
    box = imaging.expand_to_aspect((6, 6, 18, 18), 32, 16, 64, 32)  # 12x12 -> 2:1
    assert box[2] - box[0] == 24 and box[3] - box[1] == 12 and box[0] >= 0
    edge = imaging.expand_to_aspect((0, 0, 4, 16), 16, 16, 64, 32)  # at the left edge: shifted, not cut
    assert edge == (0, 0, 16, 16)


def test_composite_keeps_original_pixels_exactly_where_the_overlay_is_zero():
    rng = np.random.default_rng(0)
    original = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    generated = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    overlay = Image.new("L", (16, 16), 0)
    ImageDraw.Draw(overlay).rectangle((4, 4, 11, 11), fill=255)
    overlay.putpixel((3, 3), 128)
    out = arr(imaging.composite(generated, original, overlay))
    keep = arr(overlay) == 0
    assert np.array_equal(out[keep], arr(original)[keep])
    assert np.array_equal(out[4:12, 4:12], arr(generated)[4:12, 4:12])
    assert np.abs(out[3, 3] - (arr(generated)[3, 3] + arr(original)[3, 3]) / 2).max() <= 1


def test_composite_into_a_box_leaves_the_rest_alone():
    original = Image.new("RGB", (32, 16), (1, 2, 3))
    generated = Image.new("RGB", (8, 8), (200, 100, 50))
    overlay = Image.new("L", (32, 16), 255)
    out = arr(imaging.composite(generated, original, overlay, box=(16, 0, 32, 16)))
    assert (out[:, :16] == [1, 2, 3]).all() and (out[:, 16:] == [200, 100, 50]).all()


def test_blurred_mask_stays_zero_far_from_the_stroke():
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 39, 39), fill=255)
    blurred = arr(imaging.blur_mask(mask, 4))
    assert blurred[:8].max() == 0 and blurred[:, :8].max() == 0
    assert blurred[31, 31] > 220 and blurred[21, 31] > 0  # soft edge around the stroke


def test_fill_paints_the_masked_area_with_surrounding_colours():
    image = Image.new("RGB", (32, 32), (0, 200, 0))
    ImageDraw.Draw(image).rectangle((8, 8, 23, 23), fill=(255, 0, 0))
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 23, 23), fill=255)
    out = arr(imaging.fill_masked(image, mask))
    assert out[16, 16, 0] < 60 and out[16, 16, 1] > 120  # the red square became green-ish
    assert tuple(out[0, 0]) == (0, 200, 0)


@pytest.mark.parametrize("fill", ["edge", "noise"])
def test_outpaint_canvas_keeps_the_picture_and_masks_the_new_area(fill):
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    canvas, mask = imaging.outpaint_canvas(picture, 3, 5, 2, 0, fill, seed=7)
    assert canvas.size == (12 + 3 + 5, 10 + 2) and mask.size == canvas.size
    assert np.array_equal(arr(canvas)[2:12, 3:15], arr(picture))
    m = arr(mask)
    assert (m[2:12, 3:15] == 0).all() and (m[:2] == 255).all() and (m[:, :3] == 255).all() and (m[:, 15:] == 255).all()
    if fill == "edge":
        assert np.array_equal(arr(canvas)[5, 0], arr(picture)[3, 0])  # the left edge stretched out
    again, _ = imaging.outpaint_canvas(picture, 3, 5, 2, 0, fill, seed=7)
    assert np.array_equal(arr(again), arr(canvas))  # reproducible from the seed


def test_pad_to_multiple_of_8():
    image = Image.new("L", (13, 8), 9)
    padded = imaging.pad_to_multiple(image, value=255)
    assert padded.size == (16, 8) and arr(padded)[0, 12] == 9 and arr(padded)[0, 13] == 255
    assert imaging.pad_to_multiple(image).getpixel((15, 0)) == 9
