"""The History tab's search by picture: a drop zone and "Find similar" for the picture shown; the most
similar pictures fill the tab's gallery, best first, captioned with their prompts.

The tab (history_tab.py) lays the panel out in its side column and hands over its gallery and states; the
search itself is services.similar, in the browser user's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.service.history import History
from modules.service.history_similar import SimilarPictures, SimilarResult

LIMIT = 30
CAPTION_CHARS = 90
LABEL_CHARS = 60


@dataclass
class SimilarPanel:
    drop: Any
    find: Any
    note: Any


def panel() -> SimilarPanel:
    """Laid out where it is called (inside the History tab)."""
    with gr.Accordion("Search by picture", open=True, elem_id="history_similar_box"):
        drop = gr.Image(label="Drop a picture here to find the most similar ones", type="pil",
                        sources=["upload", "clipboard"], height=150, elem_id="history_similar_drop")
        find = gr.Button("Find similar to the picture shown", size="sm", elem_id="history_find_similar")
        note = gr.Markdown(elem_id="history_similar_note")
    return SimilarPanel(drop, find, note)


def caption(score: float, prompt: str) -> str:
    text = " ".join(prompt.split())
    return f"{score:.2f} · {text[:CAPTION_CHARS] + '…' if len(text) > CAPTION_CHARS else text or '(no prompt)'}"


def grid(history: History, found: SimilarResult) -> tuple[list[tuple[str, str]], list[int]]:
    items, ids = [], []
    for similar in found.items:
        try:
            items.append((str(history.thumbnail(similar.entry)), caption(similar.score, similar.entry.prompt)))
        except (OSError, LookupError, ValueError):  # its file vanished: repair drops it at the next start
            continue
        ids.append(similar.entry.id)
    return items, ids


def gallery_label(what: str, prompt: str | None = None) -> str:
    """The gallery's title while it shows a search by picture: what the pictures are ordered by, never the
    "newest first" of a text search."""
    if prompt is None:
        return f"Most similar to {what}, best first"
    text = " ".join(prompt.split()) or "(no prompt)"
    return f"Most similar to {what} ({text[:LABEL_CHARS] + '…' if len(text) > LABEL_CHARS else text}), best first"


def summary(found: SimilarResult, shown: int, what: str) -> str:
    method = "the built-in perceptual descriptor" if found.kind.startswith("perceptual") else \
        f"the CLIP vision encoder {found.kind.split(':')[1]}"
    text = f"{shown} picture{'s' if shown != 1 else ''} most like {what}, most similar first (compared with {method})."
    if found.pending:
        text += f" {found.pending} older picture(s) are still being prepared for this search; try again soon."
    return text


def wire(similar: SimilarPictures, history: History, scope: Callable[[Any], str | None], layout: SimilarPanel,
         gallery: Any, ids: Any, info: Any, selected: Any) -> None:
    """Dropping a picture, or Find similar on the selected one, fills `gallery` and `ids` (what the grid shows,
    so a click opens the picture as after a text search) and says what was found in `info`."""

    def from_drop(image: Any, request: gr.Request):
        if image is None:
            return gr.update(), gr.update(), gr.update()
        found = similar.similar(image, scope(request), LIMIT)
        items, shown = grid(history, found)
        return (gr.update(value=items, label=gallery_label("the dropped picture")), shown,
                summary(found, len(shown), "the dropped picture"))

    def from_selected(image_id: int | None, request: gr.Request):
        if image_id is None:
            raise gr.Error("Pick a picture in the gallery first, then Find similar.")
        try:
            found = similar.similar_to(image_id, scope(request), LIMIT)
            prompt = history.get(image_id, scope(request)).prompt
        except (LookupError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        items, shown = grid(history, found)
        return (gr.update(value=items, label=gallery_label(f"picture {image_id}", prompt)), shown,
                summary(found, len(shown), "the picture shown"))

    layout.drop.change(from_drop, inputs=[layout.drop], outputs=[gallery, ids, info])  # upload and paste alike
    layout.find.click(from_selected, inputs=[selected], outputs=[gallery, ids, info])
