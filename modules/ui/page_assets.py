"""The page's own CSS and JavaScript (modules/ui/static/), read when the UI is mounted, never at import.

Gradio takes them as strings at mount time (`css=`, `head=`): the CSS makes small pictures fill their boxes,
keeps the tabs reachable on narrow screens and names fonts with CJK and emoji glyphs; the script adds A1111's
keyboard habits (Ctrl+Enter generates, Escape interrupts) and names the icon buttons for tooltips and screen
readers.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
# Subsets shipped so the page's own labels draw on a machine without emoji or CJK fonts (static/fonts/README.md):
# (family named last in the CSS font stack, file, the code points it holds).
SYMBOLS = "\U0001F504\U0001F3B2\u267B\U0001F4A5\u26A0\U0001F5D1\uFE0F"  # 🔄 🎲 ♻ 💥 ⚠ 🗑 and the emoji selector
SHIPPED_FONTS = (("WebUI Symbols", "webui-symbols.woff2", SYMBOLS),
                 ("WebUI CJK Labels", "webui-cjk-labels.woff2", "\u4E2D\u6587"))  # 中文 of prompt-translate

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


def font_faces() -> str:
    """@font-face rules with the subsets inline (a data: URL needs no route, login or proxy path), each
    limited by unicode-range so the browser uses it only for the glyphs it holds."""
    rules = []
    for family, file_name, chars in SHIPPED_FONTS:
        data = base64.b64encode((STATIC / "fonts" / file_name).read_bytes()).decode("ascii")
        ranges = ", ".join(f"U+{ord(c):X}" for c in chars)
        rules.append(f'@font-face {{ font-family: "{family}"; src: url(data:font/woff2;base64,{data}) '
                     f'format("woff2"); unicode-range: {ranges}; font-display: swap; }}')
    return "\n".join(rules) + "\n"


def css() -> str:
    return font_faces() + (STATIC / "everyday.css").read_text(encoding="utf-8")


def head() -> str:
    """A <script> for the page's <head>: the shortcuts, with the button names passed in as JSON."""
    script = (STATIC / "shortcuts.js").read_text(encoding="utf-8")
    script += "\n" + (STATIC / "prompt_suggestions.js").read_text(encoding="utf-8")  # prompt help from history
    names = json.dumps(BUTTON_NAMES).replace("</", "<\\/")  # no text can close the script element early
    return f"<script>window.webuiButtonNames = {names};\n{script}</script>"
