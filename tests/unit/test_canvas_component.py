"""LayeredCanvas, the Gradio side: what the page is sent, what a handler receives, and bad values refused."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from modules.ui.components.canvas.canvas import CanvasData, LayeredCanvas
from modules.ui.components.canvas.value import CanvasError, CanvasValue, encode_png


def test_the_frontend_is_served_from_the_shipped_build_with_no_node():
    canvas = LayeredCanvas(render=False)
    folder = LayeredCanvas.TEMPLATE_DIR
    from pathlib import Path

    built = Path(__file__).resolve().parents[2] / "modules/ui/components/canvas" / folder / "component"
    assert (built / "index.js").is_file() and (built / "style.css").is_file()
    assert (built / "svelte_runtime_entry.js").is_file()
    config = canvas.get_config()
    assert config["layers"] == [{"name": "paint", "kind": "paint", "opacity": 1.0, "visible": True}]


def test_a_picture_value_becomes_the_background_of_a_page_of_its_size():
    canvas = LayeredCanvas(layers=[("paint", "paint"), ("mask", "mask")], render=False)
    data = canvas.postprocess(Image.new("RGB", (40, 24), (1, 2, 3)))
    assert isinstance(data, CanvasData) and (data.width, data.height) == (40, 24)
    assert data.background.startswith("data:image/png;base64,") and data.layers == []
    assert canvas.postprocess(None) is None


def test_a_handler_receives_a_canvas_value_and_a_broken_one_is_an_error_the_user_sees():
    canvas = LayeredCanvas(layers=[("mask", "mask")], render=False)
    layer = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    layer.putpixel((3, 4), (9, 9, 9, 255))
    value = canvas.preprocess(CanvasData(width=8, height=8, layers=[{"name": "mask", "kind": "mask",
                                                                      "png": encode_png(layer)}]))
    assert isinstance(value, CanvasValue) and value.mask().getbbox() == (3, 4, 4, 5)
    with pytest.raises(gr.Error, match="is 8x8 but the page is 16x16"):
        canvas.preprocess(CanvasData(width=16, height=16, layers=[{"name": "mask", "kind": "mask",
                                                                    "png": encode_png(layer)}]))


def test_a_canvas_configured_wrongly_says_what_to_fix():
    with pytest.raises(CanvasError, match="active_layer 'mask' is not one of the layers"):
        LayeredCanvas(layers=[("paint", "paint")], active_layer="mask", render=False)
    with pytest.raises(CanvasError, match="brush_fraction"):
        LayeredCanvas(brush_fraction=0.9, render=False)
    with pytest.raises(CanvasError, match="pressure is 'flow'; it has to be one of size, opacity, both"):
        LayeredCanvas(pressure="flow", render=False)
    assert LayeredCanvas(pressure="both", render=False).get_config()["pressure"] == "both"  # reaches the browser
