"""The Lora tab: a card per LoRA in models/Lora (name, family, preview, trigger words, base model), a search
box, and a click that inserts `<lora:name:1>` into the txt2img or img2img prompt."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

if TYPE_CHECKING:
    from modules.service.services import Services

THUMB = 96
TARGETS = ("txt2img", "img2img")


def _thumbnail(path: Any) -> str:
    """A small inline preview: the cards never load full pictures, and no file route is needed for them."""
    if path is None:
        return ""
    try:
        with Image.open(path) as image:
            image.thumbnail((THUMB, THUMB))
            buffer = io.BytesIO()
            # PNG for the small ones (the demo model draws 48 px): JPEG's 8x8 blocks would smear them.
            small = image.width * image.height <= 64 * 64
            image.convert("RGB").save(buffer, format="PNG" if small else "JPEG", **({} if small else {"quality": 80}))
            kind = "png" if small else "jpeg"
    except (OSError, ValueError):
        return ""
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def card_html(info: Any, thumbnail: str) -> str:
    meta = info.metadata
    lines = [f"<b>{html.escape(info.name)}</b>", f"<small>{html.escape(info.family_label)}</small>"]
    if info.trigger_words:
        lines.append(f"<small>trigger: {html.escape(', '.join(info.trigger_words))}</small>")
    if meta.get("ss_sd_model_name"):
        lines.append(f"<small>base: {html.escape(meta['ss_sd_model_name'])}</small>")
    if info.error:
        lines.append(f"<small class='status-error'>{html.escape(info.error)}</small>")
    image = (f"<img src='{thumbnail}' alt='{html.escape(info.name)} preview' "
             f"style='width:{THUMB}px;height:{THUMB}px;object-fit:cover;image-rendering:pixelated'>"
             if thumbnail else f"<div style='width:{THUMB}px;height:{THUMB}px;background:#8882'></div>")
    return (f"<div class='lora-card' style='display:flex;gap:8px;align-items:center'>{image}"
            f"<div>{'<br>'.join(lines)}</div></div>")


def matches(info: Any, query: str) -> bool:
    q = query.strip().casefold()
    if not q:
        return True
    haystack = " ".join([info.name, info.alias, info.family_label, " ".join(info.trigger_words),
                         info.metadata.get("modelspec.description", ""), str(info.path)]).casefold()
    return all(word in haystack for word in q.split())


def insert_tag(prompt: str | None, name: str) -> str:
    tag = f"<lora:{name}:1>"
    text = (prompt or "").rstrip()
    if tag in text:
        return text
    return f"{text} {tag}".strip()


def build(services: Services, prompts: dict[str, Any], tab: Any = None) -> None:
    """`prompts` maps "txt2img"/"img2img" to those tabs' prompt boxes; opening `tab` lists the LoRAs again."""
    thumbs: dict[str, str] = {}

    def listing(query: str) -> tuple[list[list[str]], list[str]]:
        shown = [i for i in services.models.loras if matches(i, query or "")]
        for info in shown:
            key = str(info.preview or "")
            if key not in thumbs:
                thumbs[key] = _thumbnail(info.preview)
        return [[card_html(i, thumbs[str(i.preview or "")])] for i in shown], [i.name for i in shown]

    samples, names = listing("")
    with gr.Row():
        search = gr.Textbox(label="Search LoRAs", placeholder="name, trigger word, family…", elem_id="lora_search",
                            scale=4)
        target = gr.Radio(list(TARGETS), value="txt2img", label="Insert into", elem_id="lora_target", scale=2)
        refresh = gr.Button("🔄 Refresh", elem_id="lora_refresh", scale=0, min_width=100)
    count = gr.Markdown(_count_text(len(names), len(services.models.loras)), elem_id="lora_count")
    cards = gr.Dataset(components=["html"], samples=samples, type="index", samples_per_page=24,
                       elem_id="lora_cards", label="LoRAs (click to insert)")
    shown_names = gr.State(names)
    details = gr.Markdown("", elem_id="lora_details")

    def filter_cards(query: str):
        samples_, names_ = listing(query)
        return gr.Dataset(samples=samples_), names_, _count_text(len(names_), len(services.models.loras))

    def do_refresh(query: str):
        services.models.refresh()
        thumbs.clear()
        return filter_cards(query)

    search.change(filter_cards, inputs=[search], outputs=[cards, shown_names, count], queue=False)
    refresh.click(do_refresh, inputs=[search], outputs=[cards, shown_names, count], queue=False)
    if tab is not None:  # a LoRA trained or merged since the page loaded is in the list without a rescan
        tab.select(filter_cards, inputs=[search], outputs=[cards, shown_names, count], queue=False)

    def pick(index: int | None, names_: list[str], where: str, *current: str):
        if index is None or not 0 <= index < len(names_):
            return (*[gr.update() for _ in TARGETS], "")
        info = services.models.find_lora(names_[index])
        updates = [gr.update(value=insert_tag(text, names_[index])) if tab == where else gr.update()
                   for tab, text in zip(TARGETS, current)]
        return (*updates, _details(info))

    cards.click(pick, inputs=[cards, shown_names, target, *[prompts[t] for t in TARGETS]],
                outputs=[*[prompts[t] for t in TARGETS], details], queue=False)


def _count_text(shown: int, total: int) -> str:
    if total == 0:
        return "No LoRAs yet: put `.safetensors` LoRA files in `models/Lora` (subfolders are fine) and press Refresh."
    return f"{shown} of {total} LoRAs"


def _details(info: Any) -> str:
    if info is None:
        return ""
    parts = [f"Inserted `<lora:{info.name}:1>` ({info.family_label})."]
    if info.trigger_words:
        parts.append(f"Trigger words: **{', '.join(info.trigger_words)}** (add them to the prompt).")
    description = info.metadata.get("modelspec.description")
    if description:
        parts.append(description)
    return " ".join(parts)
