"""The row of "Send to" buttons under a results gallery (txt2img, img2img); send_to.py wires them.

Kept apart from send_to.py, which needs both tabs' components: the tabs build their row from here without
importing each other.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

LABELS = {"img2img": "Send to img2img", "inpaint": "Send to inpaint", "extras": "Send to Extras",
          "controlnet": "Send to ControlNet"}


def send_buttons(prefix: str, targets: tuple[str, ...]) -> dict[str, Any]:
    """The row of buttons, `#<prefix>_send_to_<target>` as in A1111."""
    with gr.Row(elem_id=f"{prefix}_send_row"):
        return {t: gr.Button(LABELS[t], elem_id=f"{prefix}_send_to_{t}", size="sm") for t in targets}
