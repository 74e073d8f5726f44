"""PNG Info tab: read A1111 `parameters` from a picture and send them to txt2img."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
from PIL import Image

from modules.infotext import image_metadata, parse_infotext, read_image_infotext
from modules.requests import request_fields_from_infotext
from modules.samplers import SCHEDULE_TYPES


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


def build(services: Any, txt2img: Any, tabs: Any, txt2img_tab_id: str) -> None:
    with gr.Row():
        with gr.Column():
            image = gr.Image(type="pil", label="Source", sources=["upload", "clipboard"], elem_id="pnginfo_image",
                             image_mode=None)
        with gr.Column():
            fields = gr.HTML(elem_id="pnginfo_fields")
            raw = gr.Textbox(label="Parameters", lines=6, interactive=False, elem_id="pnginfo_text")
            send = gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img")
            note = gr.Markdown(elem_id="pnginfo_note")

    def read(img: Image.Image | None):
        if img is None:
            return "", ""
        text = read_image_infotext(img)
        return fields_html(text, image_metadata(img)), text or ""

    image.change(read, inputs=[image], outputs=[fields, raw])

    targets = ["prompt", "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale", "width", "height",
               "seed", "subseed", "subseed_strength", "clip_skip"]

    def send_to_txt2img(text: str):
        if not text:
            return [gr.update()] * (len(targets) + 1) + ["Nothing to send: load a picture with parameters first.",
                                                          gr.update()]
        values, message = txt2img_values(services.samplers, text)
        updates = [gr.update(value=values[name]) if name in values else gr.update() for name in targets]
        checkpoint_update = gr.update()
        wanted = values.get("checkpoint_hash") or values.get("checkpoint")
        if wanted:
            found = services.models.checkpoints.find(wanted) or services.models.checkpoints.find(values.get("checkpoint") or "")
            if found is not None and found.usable:
                titles = [i.title for i in services.models.checkpoints.usable()]
                checkpoint_update = gr.update(choices=titles, value=found.title)
            else:
                message += f" Checkpoint {values.get('checkpoint')} ({values.get('checkpoint_hash')}) is not here; the current one is kept."
        return updates + [checkpoint_update, message, gr.Tabs(selected=txt2img_tab_id)]

    outputs = [getattr(txt2img, name) for name in targets] + [txt2img.checkpoint, note, tabs]
    send.click(send_to_txt2img, inputs=[raw], outputs=outputs)
