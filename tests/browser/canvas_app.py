"""A small app around one LayeredCanvas for the canvas's browser tests: `python canvas_app.py PORT OUT_DIR`.

"Read" writes what Python received (each layer's PNG and a summary) to OUT_DIR/read.json, so a test checks the
exact pixels that reached the server, not only what the page shows."""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402

from modules.ui.components.canvas.canvas import LayeredCanvas  # noqa: E402
from modules.ui.components.canvas.value import CanvasValue, blank  # noqa: E402


READS = itertools.count(1)  # each read answers differently, so a test sees that its own read came back


def summary(value: CanvasValue | None, out: Path) -> str:
    if value is None:
        data = {"empty": True}
    else:
        data = {"size": list(value.size), "layers": {}}
        if value.background is not None:
            value.background.save(out / "background.png")
        for layer in value.layers:
            layer.image.save(out / f"layer-{layer.name}.png")
            data["layers"][layer.name] = {"kind": layer.kind, "bbox": layer.painted().getbbox(),
                                          "visible": layer.visible, "opacity": layer.opacity}
        value.mask().save(out / "mask.png")
    data["read"] = next(READS)
    (out / "read.json").write_text(json.dumps(data))
    return json.dumps(data)


def main(port: int, out: Path) -> None:
    with gr.Blocks() as demo:
        prompt = gr.Textbox(label="Prompt", elem_id="prompt")
        canvas = LayeredCanvas(blank((256, 192)), layers=[("paint", "paint"), ("mask", "mask")],
                               active_layer="paint", brush_fraction=0.04, elem_id="canvas", label="Canvas")
        read = gr.Button("Read", elem_id="read")
        result = gr.Textbox(label="Read", elem_id="result")
        big = gr.Button("Big page", elem_id="big")
        read.click(lambda v: summary(v, out), inputs=[canvas], outputs=[result])
        big.click(lambda: Image.new("RGB", (2048, 2048), (230, 230, 250)), outputs=[canvas])
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
