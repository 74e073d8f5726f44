"""Settings' "Live previews and memory" section: A1111's Live preview method (TAESD or the linear "Approx cheap")
and the checkpoints whose UNet keeps its weights in fp8. The server's, for everyone: only an admin applies it.

The choices act from the next job: the preview method is read by the job runner per job, and a checkpoint whose
fp8 choice changed is dropped from RAM so its next job loads it the new way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui.roles import admin_only

if TYPE_CHECKING:
    from modules.service.services import Services

METHODS = ("TAESD", "Approx cheap")
KEYS = ("show_progress_type", "fp8_checkpoints")
LABELS = {"show_progress_type": "Live preview method", "fp8_checkpoints": "Checkpoints with fp8 weights"}


def current(services: Services) -> dict[str, Any]:
    store = services.ui_settings
    return {"show_progress_type": store.get("show_progress_type") or "TAESD",
            "fp8_checkpoints": sorted(store.get("fp8_checkpoints") or [])}


def found_text(services: Services) -> str:
    tiny = services.processor.tiny
    folder = tiny.folder if tiny is not None else None
    files = sorted(p.name for p in folder.iterdir()) if folder is not None and folder.is_dir() else []
    where = f"`{folder}`" if folder is not None else "models/VAE-approx"
    if not files:
        return (f"No tiny decoder in {where}: previews use the linear approximation. Put madebyollin's "
                "`taesd_decoder.pth` (SD 1.x/2.x) or `taesdxl_decoder.pth` (SDXL) there for TAESD previews.")
    return f"Tiny decoders in {where}: {', '.join(files)}."


def apply_settings(services: Services, shown: dict[str, Any], method: str, fp8: list[str]) -> tuple[dict, str]:
    """Save what the admin changed (refusing what another admin changed meanwhile) and make it act."""
    store = services.ui_settings
    before = current(services)
    known = {info.name for info in services.models.checkpoints.usable()}
    wanted = {"show_progress_type": method if method in METHODS else before["show_progress_type"],
              "fp8_checkpoints": sorted(name for name in (fp8 or []) if name in known)}
    saved, conflicts = store.update_from(shown or before, wanted)
    values = current(services)
    services.processor.preview_method = values["show_progress_type"]
    if "fp8_checkpoints" in saved:
        now = set(values["fp8_checkpoints"])
        for name in sorted(now ^ set(before["fp8_checkpoints"])):
            services.models.set_fp8(name, name in now)
    notes = [f"Saved: {', '.join(LABELS[k] for k in saved)}." if saved else "Nothing changed, nothing saved."]
    notes += [f"Not saved: **{LABELS[k]}** was changed by someone else meanwhile; it is now `{v!r}`."
              for k, v in conflicts.items()]
    return values, "\n\n".join(notes)


def settings_section(services: Services, tab: Any = None) -> None:
    with gr.Accordion("Live previews and memory", open=False, elem_id="settings_memory"):
        found = gr.Markdown(found_text(services), elem_id="settings_taesd_found")
        method = gr.Radio(list(METHODS), value=current(services)["show_progress_type"], label=LABELS[KEYS[0]],
                          info="TAESD: full-size previews from the tiny decoder when its file is there; Approx "
                               "cheap: a small preview from a linear map of the latents", elem_id="settings_preview_method")
        names = [info.name for info in services.models.checkpoints.usable()]
        fp8 = gr.CheckboxGroup(names, value=current(services)["fp8_checkpoints"], label=LABELS[KEYS[1]],
                               info="the UNet's weights kept in fp8 and computed in bf16/fp16: half the memory, "
                                    "pictures close to but not the same", elem_id="settings_fp8_checkpoints")
        save = gr.Button("Apply", elem_id="settings_memory_apply")
        result = gr.Markdown(elem_id="settings_memory_result")
    seen = gr.State({})

    def fill():
        values = current(services)
        return values, values[KEYS[0]], values[KEYS[1]], found_text(services)

    def apply(shown: dict[str, Any], chosen: str, checked: list[str]):
        values, note = apply_settings(services, shown, chosen, checked)
        return values, values[KEYS[0]], values[KEYS[1]], note

    fields = [seen, method, fp8]
    save.click(admin_only(services.accounts, apply, "change the server's settings"), inputs=fields,
               outputs=[*fields, result])
    from gradio.context import Context

    if Context.root_block is not None:
        Context.root_block.load(fill, outputs=[*fields, found], queue=False)
    if tab is not None:
        tab.select(fill, outputs=[*fields, found], queue=False)
