"""How a tab shows what a job made: the output galleries, and the status line's links to the saved files."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

FILE_ROUTE = "gradio_api/file="  # Gradio's file route; relative, so it works under a reverse proxy's root_path
MAX_NAMED = 4  # a batch of 100 names the first few files and counts the rest
# Gradio's Share button uploads to a Hugging Face Space, which this offline app never reaches (it failed with
# a TypeError in the console): pictures offer download and fullscreen only.
SHOWN_BUTTONS = ["download", "fullscreen"]


def output_gallery(elem_id: str, label: str = "Output", **kwargs: Any) -> gr.Gallery:
    """A gallery that only shows results.

    Not interactive: an output gallery offered "Drop Media Here - Click to Upload", and a dropped picture was
    neither an input nor saved. No Share button (see SHOWN_BUTTONS).
    """
    return gr.Gallery(label=label, format="png", interactive=False, buttons=SHOWN_BUTTONS,
                      elem_id=elem_id, **kwargs)


def file_url(path: str | Path) -> str:
    """A link to a saved picture through Gradio's file route: the server lets only its owner (or an admin)
    read it when there are accounts (modules/api/auth.py), and serves it from the outputs folder only."""
    return FILE_ROUTE + quote(os.path.abspath(path))


def shown_name(path: str | Path, root: str | Path | None) -> str:
    """The path as the History tab names it: relative to the outputs folder, else just the file name."""
    full, base = os.path.abspath(path), os.path.abspath(root) if root is not None else None
    if base is not None:
        try:
            if os.path.commonpath([base, full]) == base:
                return Path(os.path.relpath(full, base)).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return os.path.basename(full)


def saved_html(paths: Sequence[str | Path], root: str | Path | None) -> str:
    """ "Saved: <link>, <link>": where the pictures went, each a link that opens the file in a new tab."""
    if not paths:
        return ""
    links = [f'<a href="{html.escape(file_url(p))}" target="_blank" rel="noopener" class="saved-file">'
             f'{html.escape(shown_name(p, root))}</a>' for p in paths[:MAX_NAMED]]
    more = f" and {len(paths) - MAX_NAMED} more" if len(paths) > MAX_NAMED else ""
    return f'<div class="saved-files">Saved: {", ".join(links)}{more}</div>'
