"""Composes the tabs into one Gradio Blocks app. Holds no model state: everything comes from `services`."""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui import pnginfo, settings_tab, txt2img

CSS = """
/* Small pictures (the demo model draws 48 px) are shown enlarged with crisp pixels, not blurred. */
#txt2img_gallery img, #txt2img_preview img { image-rendering: pixelated; }
.status-error { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.status progress, .status-error progress { width: 100%; }
"""


def build_ui(services: Any) -> gr.Blocks:
    with gr.Blocks(title="Stable Diffusion WebUI", analytics_enabled=False) as demo:
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                t2i = txt2img.build(services)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                pnginfo.build(services, t2i, tabs, "txt2img")
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings_tab.build(services)
    return demo
