"""Drawing-canvas defaults shared by the img2img canvases and the ControlNet units."""

from __future__ import annotations

from modules.ui.components.canvas.value import CanvasValue, blank

SKETCH_SIZE = (512, 512)
SKETCH_COLORS = ["#000000", "#ffffff", "#e11d1d", "#f97316", "#facc15", "#16a34a", "#2563eb", "#7c3aed", "#8b4513",
                 "#808080"]


def white_page(size: tuple[int, int] = SKETCH_SIZE) -> CanvasValue:
    """A LayeredCanvas value with a white page of `size`: ready to draw on at once."""
    return blank(size)
