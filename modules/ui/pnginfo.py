"""PNG Info tab: read A1111 `parameters` from a picture and send them to txt2img."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.core.infotext import image_metadata, parse_infotext, read_image_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.engine.samplers import SCHEDULE_TYPES
from modules.ui.controlnet_panel import ControlNetPanel
from modules.ui.hires_panel import HiresPanel
from modules.ui.refiner_panel import RefinerPanel
from modules.ui.step_cache_panel import StepCachePanel
from modules.ui import detailer_panel, modules_select, regions_panel
from modules.ui.img2img import Img2ImgTab, connect_picture_send
from modules.ui.txt2img import Txt2ImgTab

if TYPE_CHECKING:
    from modules.service.services import Services


def fields_html(text: str | None, metadata: dict[str, str]) -> str:
    if not text:
        if metadata:
            rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v[:2000])}</td></tr>" for k, v in metadata.items())
            return f"<p>No A1111 parameters in this picture. Other metadata:</p><table>{rows}</table>"
        return "<p>No generation parameters found in this picture.</p>"
    info = parse_infotext(text)
    rows = [("Prompt", info.prompt), ("Negative prompt", info.negative_prompt)]
    rows += [(k, v) for k, v in info.params.items() if not k.endswith(("-1", "-2"))]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="pnginfo">{body}</table>'


def txt2img_values(samplers: Any, text: str) -> tuple[dict[str, Any], str]:
    """The txt2img fields an infotext fills, and a note for the user.

    The dropdowns accept only their own choices: A1111's older names ("DPM++ 2M Karras") are mapped, and what
    we don't know is left out (the field keeps its value), saying so.
    """
    info = parse_infotext(text)
    values = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    message = "Sent to txt2img."
    if "sampler" in values:
        try:
            spec, schedule = samplers.resolve_with_schedule(values["sampler"], values.get("schedule_type"))
            values.update(sampler=spec.name, schedule_type=schedule)
        except ValueError:
            try:  # a known sampler with a schedule type we lack (e.g. "Align Your Steps")
                spec, _ = samplers.resolve_with_schedule(values["sampler"])
                values["sampler"] = spec.name
            except ValueError:
                message += f" Sampler {values.pop('sampler')!r} is not available here; the current one is kept."
    if "schedule_type" in values and values["schedule_type"] not in SCHEDULE_TYPES:
        message += f" Schedule type {values.pop('schedule_type')!r} is not available here; the current one is kept."
    return values, message


TXT2IMG_TARGETS = ("prompt", "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale", "width", "height",
                   "seed", "subseed", "subseed_strength", "clip_skip", "restore_faces", "distilled_cfg_scale")


def checkpoint_update(services: Services, values: dict[str, Any]) -> tuple[Any, str]:
    """The checkpoint dropdown's update for an infotext's Model/Model hash, and a note when it is not here."""
    wanted = values.get("checkpoint_hash") or values.get("checkpoint")
    if not wanted:
        return gr.update(), ""
    checkpoints = services.models.checkpoints
    found = checkpoints.find(wanted) or checkpoints.find(values.get("checkpoint") or "")
    if found is not None and found.usable:
        return gr.update(choices=[i.title for i in checkpoints.usable()], value=found.title), ""
    return gr.update(), (f" Checkpoint {values.get('checkpoint')} ({values.get('checkpoint_hash')}) is not here; "
                         "the current one is kept.")


def txt2img_outputs(txt2img: Txt2ImgTab) -> list[Any]:
    """The txt2img components "Send to txt2img" fills, in the order of `txt2img_updates`."""
    hires = txt2img.hires
    modules = getattr(txt2img, "additional_modules", None)  # "VAE / Text encoder", right after the checkpoint
    return [getattr(txt2img, name) for name in TXT2IMG_TARGETS] + [txt2img.checkpoint] + \
        ([modules] if modules is not None else []) + \
        (hires.ordered() if hires is not None else []) + \
        (txt2img.refiner.ordered() if txt2img.refiner is not None else []) + \
        (txt2img.controlnet.ordered() if txt2img.controlnet is not None else []) + \
        (txt2img.step_cache.ordered() if txt2img.step_cache is not None else [])


def txt2img_updates(services: Services, text: str, hires: HiresPanel | None = None,
                    refiner: RefinerPanel | None = None, controlnet: ControlNetPanel | None = None,
                    step_cache: StepCachePanel | None = None, modules: bool = False) -> tuple[list[Any], str]:
    """Updates for `txt2img_outputs` (TXT2IMG_TARGETS, the checkpoint dropdown, the Hires. fix panel when given),
    and a note: what "Send to txt2img" does (here and in the History tab)."""
    values, message = txt2img_values(services.samplers, text)
    updates = [gr.update(value=values[name]) if name in values else gr.update() for name in TXT2IMG_TARGETS]
    checkpoint, note = checkpoint_update(services, values)
    updates.append(checkpoint)
    if modules:  # the files a Flux transformer file ran with (Forge's "Module N"); none for other pictures
        update, modules_note = modules_select.update_from(services, values)
        updates.append(update)
        note += modules_note
    if hires is not None:
        more, hires_note = hires.updates_from(services, values)
        updates += more
        note += hires_note
    if refiner is not None:
        more, refiner_note = refiner.updates_from(services, values)
        updates += more
        note += refiner_note
    if controlnet is not None:  # its units' settings (IP-Adapter units too), from `ControlNet N` entries
        more, controlnet_note = controlnet.updates_from(services, parse_infotext(text).params)
        updates += more
        note += controlnet_note
    if step_cache is not None:  # DeepCache or a transformer cache, as the picture was made
        updates += step_cache.updates_from(values)
    return updates, message + note


def build(services: Services, txt2img: Txt2ImgTab, tabs: Any, txt2img_tab_id: str,
          img2img: Img2ImgTab | None = None) -> None:
    with gr.Row():
        with gr.Column():
            image = gr.Image(type="pil", label="Source", sources=["upload", "clipboard"], elem_id="pnginfo_image",
                             image_mode=None)
        with gr.Column():
            fields = gr.HTML(elem_id="pnginfo_fields")
            raw = gr.Textbox(label="Parameters", lines=6, interactive=False, elem_id="pnginfo_text")
            with gr.Row():
                send = gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img")
                send_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_img2img")
                send_inpaint = gr.Button("Send to inpaint", elem_id="pnginfo_send_inpaint")
            note = gr.Markdown(elem_id="pnginfo_note")

    def read(img: Image.Image | None):
        if img is None:
            return "", ""
        text = read_image_infotext(img)
        return fields_html(text, image_metadata(img)), text or ""

    image.change(read, inputs=[image], outputs=[fields, raw])

    targets = txt2img_outputs(txt2img)

    def send_to_txt2img(text: str):
        if not text:
            return [gr.update()] * len(targets) + ["Nothing to send: load a picture with parameters first.",
                                                   gr.update()]
        updates, message = txt2img_updates(services, text, txt2img.hires, txt2img.refiner, txt2img.controlnet,
                                           txt2img.step_cache, modules=txt2img.additional_modules is not None)
        return updates + [message, gr.Tabs(selected=txt2img_tab_id)]

    outputs = targets + [note, tabs]
    send.click(send_to_txt2img, inputs=[raw], outputs=outputs)
    if txt2img.detailer is not None:  # ADetailer's units too
        detailer_panel.connect_send(txt2img.detailer, services, send, [raw], lambda text, request: text)
    if txt2img.regions is not None:  # the regions too
        regions_panel.connect_send(txt2img.regions, send, [raw], lambda text, request: text)
    if img2img is not None:
        def values_of(picture: Image.Image) -> dict[str, Any]:
            text = read_image_infotext(picture)
            return txt2img_values(services.samplers, text)[0] if text else {}

        connect_picture_send(send_img2img, "img2img", image, values_of, img2img, tabs)
        connect_picture_send(send_inpaint, "inpaint", image, values_of, img2img, tabs)
