"""The layered drawing canvas: a Gradio custom component (`LayeredCanvas`) and the value it hands Python."""

from modules.ui.components.canvas.value import CanvasLayer, CanvasValue, LayerSpec, layer_specs

__all__ = ["CanvasLayer", "CanvasValue", "LayerSpec", "layer_specs"]
