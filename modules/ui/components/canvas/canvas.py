"""`LayeredCanvas`: the Gradio custom component artists paint on (pressure, layers, undo, pan and zoom).

Its frontend is built from `frontend/` (Svelte + perfect-freehand) by `scripts/build_canvas.sh` into
`templates/`, which is shipped in git: Gradio serves those files, so running the app needs no node. The value
crossing the wire is the page size, the background and one PNG per named layer with its kind; Python reads it
as a `CanvasValue` and a tab takes exactly the layer it needs from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
from gradio.components.base import Component
from gradio.data_classes import GradioModel
from gradio.events import Events
from PIL import Image

from modules.ui.components.canvas.value import (
    CanvasError,
    CanvasValue,
    LayerSpec,
    blank,
    from_payload,
    layer_specs,
    to_payload,
)

PRESSURE_MODES = ("size", "opacity", "both")  # what a pen's pressure drives
DEFAULT_COLORS = ("#000000", "#ffffff", "#e11d1d", "#f97316", "#facc15", "#16a34a", "#2563eb", "#7c3aed",
                  "#8b4513", "#808080")


class CanvasLayerData(GradioModel):
    name: str
    kind: str = "paint"
    png: str | None = None  # a data:image/png;base64 URL; None = nothing painted
    visible: bool = True
    opacity: float = 1.0


class CanvasData(GradioModel):
    width: int
    height: int
    background: str | None = None
    layers: list[CanvasLayerData] = []
    token: str | None = None  # set by the browser on its own edits, so it does not reload what it sent


class LayeredCanvas(Component):
    """A drawing canvas with a background picture and named layers of kinds paint, mask, control and region.

    `layers` are the layers a fresh page starts with (the artist can add more paint layers); `brush_fraction`
    sets the default brush width as a fraction of the picture's shorter side, so a 48 px and a 2048 px picture
    both start with a brush that fits them. `pressure` is what a pen's pressure drives: "size", "opacity" or
    "both" (the artist can change it on the toolbar). `max_side` refuses bigger uploads in the browser with a
    message; `can_add_layers=False` hides "+ Paint layer" where a tab would have no use for one."""

    EVENTS = [Events.change, Events.input, Events.upload, Events.clear]
    data_model = CanvasData
    FRONTEND_DIR = "../../../../frontend/canvas/"  # the source lives outside the Python package

    def __init__(self, value: CanvasValue | Image.Image | Callable | None = None, *,
                 layers: Sequence[LayerSpec | tuple[str, str]] = (("paint", "paint"),),
                 brush_fraction: float = 0.02, colors: Sequence[str] = DEFAULT_COLORS,
                 default_color: str = "#000000", active_layer: str | None = None, uploads: bool = True,
                 pressure: str = "size",
                 can_add_layers: bool = True,
                 max_side: int = 4096, canvas_height: int = 480, label: str | None = None,
                 show_label: bool | None = None, container: bool = True, scale: int | None = None,
                 min_width: int = 160, interactive: bool | None = None, visible: bool = True,
                 elem_id: str | None = None, elem_classes: list[str] | str | None = None, render: bool = True,
                 key: int | str | None = None):
        specs = layer_specs(*layers)
        if not specs:
            raise CanvasError("A canvas needs at least one layer to paint on.")
        if not 0.0 < brush_fraction <= 0.5:
            raise CanvasError(f"brush_fraction is {brush_fraction}; it has to be above 0 and at most 0.5.")
        if pressure not in PRESSURE_MODES:
            raise CanvasError(f"pressure is {pressure!r}; it has to be one of {', '.join(PRESSURE_MODES)}.")
        self.pressure = pressure
        self.layers = [s.as_config() for s in specs]
        self.brush_fraction = brush_fraction
        self.colors = list(colors)
        self.default_color = default_color
        names = [s.name for s in specs]
        if active_layer is not None and active_layer not in names:
            raise CanvasError(f"active_layer {active_layer!r} is not one of the layers {names}.")
        self.active_layer = active_layer or names[0]
        self.uploads = uploads
        self.can_add_layers = can_add_layers  # off where extra paint layers would mean nothing (regions)
        self.max_side = max_side
        self.canvas_height = canvas_height
        super().__init__(value, label=label, show_label=show_label, container=container, scale=scale,
                         min_width=min_width, interactive=interactive, visible=visible, elem_id=elem_id,
                         elem_classes=elem_classes, render=render, key=key)

    def preprocess(self, payload: CanvasData | None) -> CanvasValue | None:
        if payload is None:
            return None
        try:
            return from_payload(payload.model_dump())
        except CanvasError as exc:
            raise gr.Error(str(exc)) from None

    def postprocess(self, value: CanvasValue | Image.Image | None) -> CanvasData | None:
        payload = to_payload(value)
        return None if payload is None else CanvasData(**payload)

    def example_payload(self) -> Any:
        return to_payload(blank((64, 64)))

    def example_value(self) -> Any:
        return blank((64, 64))

    def api_info(self) -> dict[str, Any]:
        return CanvasData.model_json_schema()
