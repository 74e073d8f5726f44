"""Face restoration in the UI: the "Restore faces" checkbox of txt2img and img2img, the restorer the server's
Settings choose for it (A1111's face_restoration_model, code_former_weight, face_restoration_unload), and the
Extras sliders. The request carries the choice, so a job is not changed by a settings change while it waits."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.requests import GenerationRequest
from modules.engine.faces.restorers import NAMES
from modules.ui.roles import admin_only

if TYPE_CHECKING:
    from modules.service.services import Services

KEYS = ("face_restoration_model", "code_former_weight", "face_restoration_unload")
LABELS = {"face_restoration_model": "Face restoration model", "code_former_weight": "CodeFormer weight",
          "face_restoration_unload": "Free the face restoration model after each job"}


def checkbox(prefix: str) -> gr.Checkbox:
    return gr.Checkbox(False, label="Restore faces", elem_id=f"{prefix}_restore_faces",
                       info="With the face restoration model chosen in Settings (models/GFPGAN, models/Codeformer).")


def with_settings(services: Services, request: GenerationRequest, user: str | None) -> GenerationRequest:
    """The request with the restorer and CodeFormer weight of the user's options, else the server's settings."""
    if not request.restore_faces:
        return request
    mine = services.user_settings.get(user) if user else {}

    def option(key: str, default: Any) -> Any:
        value = mine.get(key, services.ui_settings.get(key))
        return default if value is None else value

    return replace(request, face_restorer=str(option("face_restoration_model", "CodeFormer")),
                   codeformer_weight=option("code_former_weight", 0.5))


def _found(services: Services) -> str:
    faces = services.faces
    here = [spec.name for spec in faces.available()] if faces is not None else []
    folders = (f"`{faces.folders['gfpgan']}` (GFPGAN, RestoreFormer) and `{faces.folders['codeformer']}` "
               "(CodeFormer)") if faces is not None else "none"
    return (f"Model files found for: **{', '.join(here) or 'none'}**. Folders: {folders}; nothing is downloaded: "
            "put GFPGANv1.4.pth, RestoreFormer.pth or codeformer-v0.1.0.pth there.")


def settings_section(services: Services, tab: Any = None) -> None:
    """Settings' "Face restoration" section, saved with its own button (only the keys this form changed)."""
    store = services.ui_settings
    with gr.Accordion("Face restoration", open=False, elem_id="settings_face_restoration"):
        found = gr.Markdown(_found(services), elem_id="settings_face_found")
        model = gr.Radio(list(NAMES), value=store.get("face_restoration_model"), label=LABELS[KEYS[0]],
                         elem_id="settings_face_restoration_model")
        weight = gr.Slider(0, 1, value=store.get("code_former_weight"), step=0.01, label=LABELS[KEYS[1]],
                           info="0 = maximum effect; 1 = minimum effect", elem_id="settings_code_former_weight")
        unload = gr.Checkbox(bool(store.get("face_restoration_unload")), label=LABELS[KEYS[2]],
                             elem_id="settings_face_restoration_unload")
        save = gr.Button("Apply", elem_id="settings_face_apply")
        result = gr.Markdown(elem_id="settings_face_result")
    seen = gr.State({})

    def current() -> dict[str, Any]:
        return {key: store.get(key) for key in KEYS}

    def fill():
        if services.faces is not None:
            services.faces.refresh()
        values = current()
        return values, values[KEYS[0]], values[KEYS[1]], bool(values[KEYS[2]]), _found(services)

    def apply(shown: dict[str, Any], name: str, w: float, free: bool):
        wanted = {KEYS[0]: name if name in NAMES else current()[KEYS[0]],
                  KEYS[1]: min(max(float(w or 0), 0.0), 1.0), KEYS[2]: bool(free)}
        saved, conflicts = store.update_from(shown or current(), wanted)
        notes = [f"Saved: {', '.join(LABELS[k] for k in saved)}." if saved else "Nothing changed, nothing saved."]
        notes += [f"Not saved: **{LABELS[k]}** was changed by someone else meanwhile; it is now `{v!r}`."
                  for k, v in conflicts.items()]
        values = current()
        return values, values[KEYS[0]], values[KEYS[1]], bool(values[KEYS[2]]), "\n\n".join(notes)

    fields = [seen, model, weight, unload]
    save.click(admin_only(services.accounts, apply, "change the server's settings"), inputs=fields,
               outputs=[*fields, result])
    from gradio.context import Context

    if Context.root_block is not None:
        Context.root_block.load(fill, outputs=[*fields, found], queue=False)
    if tab is not None:
        tab.select(fill, outputs=[*fields, found], queue=False)


def extras_sliders() -> tuple[Any, Any, Any]:
    """Extras' GFPGAN visibility, CodeFormer visibility and CodeFormer weight (A1111's labels and ids)."""
    with gr.Accordion("Face restoration (after the upscale)", open=False, elem_id="extras_face_restoration"):
        gfpgan = gr.Slider(0, 1, value=0, step=0.001, label="GFPGAN visibility", elem_id="extras_gfpgan_visibility")
        with gr.Row():
            codeformer = gr.Slider(0, 1, value=0, step=0.001, label="CodeFormer visibility",
                                   elem_id="extras_codeformer_visibility")
            weight = gr.Slider(0, 1, value=0, step=0.001, label="CodeFormer weight (0 = maximum effect, 1 = minimum "
                               "effect)", elem_id="extras_codeformer_weight")
    return gfpgan, codeformer, weight
