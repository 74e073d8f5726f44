"""The Textual Inversion tab: the embeddings in models/embeddings, a search box, and a click that adds the
embedding's name (the word that calls it) to the txt2img or img2img prompt."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.engine.models.embeddings import describe

if TYPE_CHECKING:
    from modules.service.services import Services

TARGETS = ("txt2img", "img2img")


def card(info: Any, facts: dict[str, Any]) -> str:
    if "error" in facts:
        detail = f"<small class='status-error'>{html.escape(facts['error'])}</small>"
    else:
        detail = f"<small>{facts['family']}, {facts['vectors']} vector(s)</small>"
    return f"<b>{html.escape(info.name)}</b><br>{detail}"


def insert_word(prompt: str | None, word: str) -> str:
    text = (prompt or "").rstrip()
    if not text:
        return word
    return text if word in text else f"{text}, {word}"


def build(services: Services, prompts: dict[str, Any]) -> None:
    facts: dict[str, dict[str, Any]] = {}

    def listing(query: str) -> tuple[list[list[str]], list[str]]:
        q = (query or "").strip().casefold()
        shown = [i for i in services.models.embeddings if q in i.name.casefold()]
        for info in shown:
            if str(info.path) not in facts:
                facts[str(info.path)] = describe(info)
        return [[card(i, facts[str(i.path)])] for i in shown], [i.name for i in shown]

    samples, names = listing("")
    with gr.Row():
        search = gr.Textbox(label="Search embeddings", elem_id="ti_search", scale=4)
        target = gr.Radio(list(TARGETS), value="txt2img", label="Insert into", elem_id="ti_target", scale=2)
        refresh = gr.Button("🔄 Refresh", elem_id="ti_refresh", scale=0, min_width=100)
    gr.Markdown("" if names else "No embeddings yet: put textual-inversion files (`.safetensors`, `.pt`, "
                       "`.bin`) in `models/embeddings`; their file name in a prompt calls them.", elem_id="ti_note")
    cards = gr.Dataset(components=["html"], samples=samples, type="index", samples_per_page=40, elem_id="ti_cards",
                       label="Embeddings (click to add to the prompt)")
    shown = gr.State(names)

    def update(query: str):
        samples_, names_ = listing(query)
        return gr.Dataset(samples=samples_), names_

    def do_refresh(query: str):
        services.models.refresh()
        facts.clear()
        return update(query)

    search.change(update, inputs=[search], outputs=[cards, shown], queue=False)
    refresh.click(do_refresh, inputs=[search], outputs=[cards, shown], queue=False)

    def pick(index: int | None, names_: list[str], where: str, *current: str):
        if index is None or not 0 <= index < len(names_):
            return tuple(gr.update() for _ in TARGETS)
        return tuple(gr.update(value=insert_word(text, names_[index])) if tab == where else gr.update()
                     for tab, text in zip(TARGETS, current))

    cards.click(pick, inputs=[cards, shown, target, *[prompts[t] for t in TARGETS]],
                outputs=[prompts[t] for t in TARGETS], queue=False)
