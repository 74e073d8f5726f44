"""Drawing-canvas defaults shared by the img2img canvases and the ControlNet units."""

from __future__ import annotations

from typing import Any

from PIL import Image

from modules.ui.components.canvas.value import CanvasValue, blank

SKETCH_SIZE = (512, 512)
SKETCH_COLORS = ["#000000", "#ffffff", "#e11d1d", "#f97316", "#facc15", "#16a34a", "#2563eb", "#7c3aed", "#8b4513",
                 "#808080"]


def white_canvas(size: tuple[int, int] = SKETCH_SIZE) -> dict[str, Any]:
    """An editor value with a white page: the brush draws from the first stroke, no upload needed."""
    return {"background": Image.new("RGBA", size, (255, 255, 255, 255)), "layers": [], "composite": None}


def white_page(size: tuple[int, int] = SKETCH_SIZE) -> CanvasValue:
    """A LayeredCanvas value with a white page of `size`: ready to draw on at once."""
    return blank(size)
