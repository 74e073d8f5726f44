"""Settings tab: UI defaults persisted in the settings JSON file. They are the server's, for everyone: only an
admin (or the local user of an instance without accounts) changes them.

The form is filled when the page opens and each time the tab is selected, never from the values at start-up:
two admins with the page open must not undo each other's changes. Saving writes only the fields this admin
changed, and refuses one another admin changed meanwhile (`SettingsStore.update_from`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui import face_restoration, memory_settings
from modules.ui.roles import admin_only, show_to_admins

if TYPE_CHECKING:
    from modules.service.services import Services

MAX_PREVIEW_EVERY = 50


KEYS = ("preview_every", "default_negative_prompt")  # what this tab edits; each is used where its label says


def current(store: Any) -> dict[str, Any]:
    return {key: store.get(key) for key in KEYS}


def keep_edits(seen: dict[str, Any], form: dict[str, Any], stored: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(seen, form) after the tab is selected again: a field the admin edited and has not applied keeps the edit
    and what it is measured against (so Apply still notices another admin's change); the others show what is
    stored now."""
    edited = {k for k in form if seen and k in seen and form[k] != (seen[k] if seen[k] is not None else "")}
    return ({k: seen[k] if k in edited else stored[k] for k in stored},
            {k: form[k] if k in edited else stored[k] for k in stored})


def build(services: Services, tab: Any = None) -> None:
    """The Settings form; `tab` (the gr.Tab holding it) refreshes the form when selected."""
    store = services.ui_settings
    readonly = gr.Markdown("These settings are the server's, for everyone: only an admin can change them.",
                           visible=False, elem_id="settings_readonly")
    with gr.Column(visible=False, elem_id="settings_editors") as editors:
        gr.Markdown(f"Saved to `{store.path}`. Device: **{services.device.device}**, "
                    f"{str(services.device.dtype).replace('torch.', '')} ({services.device.reason}).")
        preview_every = gr.Slider(0, MAX_PREVIEW_EVERY, value=store.get("preview_every"), step=1,
                                  label="Live preview every N steps (0 = off)", elem_id="settings_preview_every")
        negative = gr.Textbox(value=store.get("default_negative_prompt"), elem_id="settings_default_negative",
                              label="Default negative prompt (fills txt2img's and img2img's when the page opens)")
        save = gr.Button("Apply settings", variant="primary", elem_id="settings_apply")
        result = gr.Markdown(elem_id="settings_result")
        read_at = gr.Markdown(elem_id="settings_read_at")
        face_restoration.settings_section(services, tab)  # its own Apply: a section of its own
        memory_settings.settings_section(services, tab)  # live preview method, fp8 checkpoints
    seen = gr.State({})  # the values the form was filled with: what "changed" is measured against

    def fill():
        values = current(store)
        stamp = f"Showing the values stored at {time.strftime('%H:%M:%S')} (read again each time this tab opens)."
        return values, values["preview_every"], values["default_negative_prompt"] or "", stamp

    def refill(shown: dict[str, Any], every: float, neg: str):
        values, *_, stamp = fill()
        seen_now, form = keep_edits(shown, {"preview_every": every, "default_negative_prompt": neg or ""}, values)
        return seen_now, form["preview_every"], form["default_negative_prompt"] or "", stamp

    def apply(shown: dict[str, Any], every: float, neg: str):
        every = min(max(int(every or 0), 0), MAX_PREVIEW_EVERY)  # the slider's bounds, whatever a client sends
        saved, conflicts = store.update_from(shown or current(store),
                                             {"preview_every": every, "default_negative_prompt": neg or ""})
        if "preview_every" in saved:
            services.jobs.preview_every = every
        values = current(store)
        notes = [f"Settings saved: {', '.join(LABELS[k] for k in saved)}." if saved else
                 "Nothing changed, nothing saved."]
        notes += [f"Not saved: **{LABELS[k]}** was changed by someone else since this page showed it; it is now "
                  f"`{v!r}`, shown above. Change it again to replace it." for k, v in conflicts.items()]
        # The form now shows what is stored (another admin's newer values included), and `seen` follows it.
        return values, values["preview_every"], values["default_negative_prompt"] or "", "\n\n".join(notes)

    fields = [seen, preview_every, negative]
    save.click(admin_only(services.accounts, apply, "change the server's settings"), inputs=[seen, preview_every,
               negative], outputs=[*fields, result])
    from gradio.context import Context

    if Context.root_block is not None:
        Context.root_block.load(fill, outputs=[*fields, read_at], queue=False)
    if tab is not None:
        tab.select(refill, inputs=fields, outputs=[*fields, read_at], queue=False)
    show_to_admins(services.accounts, [editors], [readonly])


LABELS = {"preview_every": "Live preview every N steps", "default_negative_prompt": "Default negative prompt"}


def fill_default_negative(services: Services, boxes: list[Any]) -> None:
    """txt2img's and img2img's negative prompt start at the current default each time the page opens (not the
    one at start-up). The admin's setting wins over the default model's suggestion (the demo model suggests an
    empty one, which used to hide the setting); the suggestion fills in when the setting is empty."""
    from gradio.context import Context

    if Context.root_block is None or not boxes:
        raise RuntimeError("fill_default_negative must be called while the gr.Blocks app is being built")

    def on_load():
        text = services.ui_settings.get("default_negative_prompt") or services.model_defaults().get(
            "negative_prompt") or ""
        return [text for _ in boxes] if len(boxes) > 1 else text

    Context.root_block.load(on_load, outputs=boxes, queue=False)
