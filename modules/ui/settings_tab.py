"""Settings tab: UI defaults persisted in the settings JSON file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

if TYPE_CHECKING:
    from modules.service.services import Services


def build(services: Services) -> None:
    store = services.ui_settings
    gr.Markdown(f"Saved to `{store.path}`. Device: **{services.device.device}**, "
                f"{str(services.device.dtype).replace('torch.', '')} ({services.device.reason}).")
    preview_every = gr.Slider(0, 50, value=store.get("preview_every"), step=1,
                              label="Live preview every N steps (0 = off)", elem_id="settings_preview_every")
    negative = gr.Textbox(value=store.get("default_negative_prompt"), label="Default negative prompt",
                          elem_id="settings_default_negative")
    save = gr.Button("Apply settings", variant="primary", elem_id="settings_apply")
    result = gr.Markdown(elem_id="settings_result")

    def apply(every: float, neg: str):
        store.update({"preview_every": int(every), "default_negative_prompt": neg or ""})
        services.jobs.preview_every = int(every)
        return "Settings saved."

    save.click(apply, inputs=[preview_every, negative], outputs=[result])
