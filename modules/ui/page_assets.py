"""The page's own CSS and JavaScript (modules/ui/static/), read when the UI is mounted, never at import.

Gradio takes them as strings at mount time (`css=`, `head=`): the CSS makes small pictures fill their boxes,
keeps the tabs reachable on narrow screens and names fonts with CJK and emoji glyphs; the script adds A1111's
keyboard habits (Ctrl+Enter generates, Escape interrupts) and names the icon buttons for tooltips and screen
readers.
"""

from __future__ import annotations

import json
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

# What the icon-only buttons do, by elem_id: shown as a tooltip (title) and read out by screen readers
# (aria-label), so the buttons keep their meaning where no emoji font draws the icon.
BUTTON_NAMES = {
    "txt2img_refresh": "Refresh: scan the models folders again for checkpoints and VAEs",
    "txt2img_random_seed": "Random seed: set the seed to -1, a new one for each picture",
    "txt2img_reuse_seed": "Reuse seed: put the seed of the last picture back",
    "img2img_random_seed": "Random seed: set the seed to -1, a new one for each picture",
    "img2img_reuse_seed": "Reuse seed: put the seed of the last picture back",
    "txt2img_controlnet_refresh": "Refresh: scan models/ControlNet again",
    "img2img_controlnet_refresh": "Refresh: scan models/ControlNet again",
    "txt2img_generate": "Generate (Ctrl+Enter in a prompt); clicked again while a job runs, queues another",
    "img2img_generate": "Generate (Ctrl+Enter in a prompt); clicked again while a job runs, queues another",
    "txt2img_interrupt": "Interrupt the running job (Escape)",
    "img2img_interrupt": "Interrupt the running job (Escape)",
    "txt2img_skip": "Skip the current picture of a batch and go on with the next",
    "img2img_skip": "Skip the current picture of a batch and go on with the next",
}


def css() -> str:
    return (STATIC / "everyday.css").read_text(encoding="utf-8")


def head() -> str:
    """A <script> for the page's <head>: the shortcuts, with the button names passed in as JSON."""
    script = (STATIC / "shortcuts.js").read_text(encoding="utf-8")
    names = json.dumps(BUTTON_NAMES).replace("</", "<\\/")  # no text can close the script element early
    return f"<script>window.webuiButtonNames = {names};\n{script}</script>"
