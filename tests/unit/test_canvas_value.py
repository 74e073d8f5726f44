"""The layered canvas's value as Python reads it: named layers, the mask taken from the mask layer only."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from modules.ui.components.canvas.value import (
    CanvasError,
    CanvasLayer,
    CanvasValue,
    LayerSpec,
    blank,
    encode_png,
    from_payload,
    layer_specs,
    to_payload,
)


def _layer(size, box, colour, alpha=255):
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle(box, fill=(*colour, alpha))
    return image


def _payload(size=(64, 48), **layers):
    return {"width": size[0], "height": size[1], "background": encode_png(Image.new("RGB", size, "white")),
            "layers": [{"name": n, "kind": k, "png": encode_png(img) if img is not None else None}
                       for n, (k, img) in layers.items()]}


def test_the_mask_is_where_the_mask_layer_is_painted_and_paint_never_leaks_into_it():
    size = (64, 48)
    payload = _payload(size, paint=("paint", _layer(size, (0, 0, 20, 20), (255, 255, 255))),
                       mask=("mask", _layer(size, (30, 10, 39, 19), (255, 45, 111), alpha=40)))
    value = from_payload(payload)
    mask = value.mask()
    assert mask.size == size and mask.mode == "L"
    assert mask.getbbox() == (30, 10, 40, 20)
    histogram = mask.histogram()
    assert histogram[1:255] == [0] * 254 and histogram[255] == 100  # a faint stroke masks fully: alpha > 0


def test_a_canvas_without_a_mask_layer_masks_nothing_and_a_paint_layer_is_not_a_mask():
    size = (32, 32)
    value = from_payload(_payload(size, paint=("paint", _layer(size, (0, 0, 9, 9), (0, 0, 0)))))
    assert value.mask().getbbox() is None
    with pytest.raises(CanvasError, match="paint layer, not a mask"):
        value.mask("paint")


def test_the_composite_puts_visible_paint_layers_over_the_background_with_their_opacity():
    size = (16, 16)
    background = Image.new("RGB", size, (0, 0, 255))
    paint = CanvasLayer("paint", "paint", _layer(size, (0, 0, 7, 15), (255, 0, 0)), opacity=0.5)
    hidden = CanvasLayer("hidden", "paint", _layer(size, (0, 0, 15, 15), (0, 255, 0)), visible=False)
    mask = CanvasLayer("mask", "mask", _layer(size, (0, 0, 15, 15), (255, 255, 255)))
    picture = CanvasValue(16, 16, background, (paint, hidden, mask)).composite()
    assert picture.getpixel((12, 8)) == (0, 0, 255)  # untouched background; hidden and mask layers left out
    r, g, b = picture.getpixel((3, 8))
    assert 120 <= r <= 135 and g == 0 and 120 <= b <= 135  # half-opaque red over blue


def test_a_layer_of_another_size_than_the_page_is_refused_with_both_sizes():
    payload = _payload((64, 48), paint=("paint", _layer((32, 32), (0, 0, 3, 3), (0, 0, 0))))
    with pytest.raises(CanvasError, match="32x32 but the page is 64x48"):
        from_payload(payload)


def test_a_layer_that_is_not_a_png_is_refused_naming_the_layer():
    payload = _payload((8, 8), mask=("mask", None))
    payload["layers"][0]["png"] = "data:image/png;base64,bm90IGEgcGljdHVyZQ=="
    with pytest.raises(CanvasError, match="layer 'mask'"):
        from_payload(payload)


def test_an_unknown_layer_kind_is_refused():
    with pytest.raises(CanvasError, match="kinds are paint, mask, control, region"):
        LayerSpec("x", "scribble")
    with pytest.raises(CanvasError, match="unique"):
        layer_specs(("a", "paint"), ("a", "mask"))


def test_a_mask_layer_shows_translucent_by_default_and_other_kinds_opaque():
    assert 0 < LayerSpec("mask", "mask").opacity < 1
    assert LayerSpec("paint").opacity == 1.0


def test_a_value_survives_the_round_trip_to_the_browser_format():
    size = (20, 10)
    value = CanvasValue(20, 10, Image.new("RGB", size, (9, 8, 7)),
                        (CanvasLayer("mask", "mask", _layer(size, (2, 2, 5, 5), (1, 2, 3))),
                         CanvasLayer("paint", "paint", Image.new("RGBA", size, (0, 0, 0, 0)))))
    back = from_payload(to_payload(value))
    assert back.size == size and back.background.getpixel((0, 0))[:3] == (9, 8, 7)
    assert back.mask().getbbox() == (2, 2, 6, 6)
    assert to_payload(value)["layers"][1]["png"] is None  # an empty layer is not sent
    assert to_payload(blank((4, 4)))["layers"] == []
    assert from_payload(None) is None
