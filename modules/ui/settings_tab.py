"""Settings tab: UI defaults persisted in the settings JSON file. They are the server's, for everyone: only an
admin (or the local user of an instance without accounts) changes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from modules.ui.roles import admin_only, show_to_admins

if TYPE_CHECKING:
    from modules.service.services import Services

MAX_PREVIEW_EVERY = 50


def build(services: Services) -> None:
    store = services.ui_settings
    readonly = gr.Markdown("These settings are the server's, for everyone: only an admin can change them.",
                           visible=False, elem_id="settings_readonly")
    with gr.Column(visible=False, elem_id="settings_editors") as editors:
        gr.Markdown(f"Saved to `{store.path}`. Device: **{services.device.device}**, "
                    f"{str(services.device.dtype).replace('torch.', '')} ({services.device.reason}).")
        preview_every = gr.Slider(0, MAX_PREVIEW_EVERY, value=store.get("preview_every"), step=1,
                                  label="Live preview every N steps (0 = off)", elem_id="settings_preview_every")
        negative = gr.Textbox(value=store.get("default_negative_prompt"), label="Default negative prompt",
                              elem_id="settings_default_negative")
        save = gr.Button("Apply settings", variant="primary", elem_id="settings_apply")
        result = gr.Markdown(elem_id="settings_result")

    def apply(every: float, neg: str):
        every = min(max(int(every or 0), 0), MAX_PREVIEW_EVERY)  # the slider's bounds, whatever a client sends
        store.update({"preview_every": every, "default_negative_prompt": neg or ""})
        services.jobs.preview_every = every
        return "Settings saved."

    save.click(admin_only(services.accounts, apply, "change the server's settings"), inputs=[preview_every, negative],
               outputs=[result])
    show_to_admins(services.accounts, [editors], [readonly])
