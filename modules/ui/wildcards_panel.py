"""The dynamic prompts switch of the txt2img and img2img tabs: how `{a|b}` and `__wildcards__` are drawn. Random (each
picture draws from its own seed), Combinatorial (every prompt the template can make, in turn) or Off (the braces
reach the model as written). The form sends it as the request's `extra["wildcards"]`, the same object the API
takes in `alwayson_scripts.wildcards`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from modules.service.wildcards import OWN_KEY

MODES = ("Random", "Combinatorial", "Off")
FIELD = "wildcards_mode"  # the form's name for the radio


def build(prefix: str) -> Any:
    return gr.Radio(list(MODES), value=MODES[0], label="Dynamic prompts ({a|b} and __wildcards__)",
                    info="Random: each picture draws from its seed. Combinatorial: every prompt in turn, one per "
                         "picture (raise Batch count to see them all).", elem_id=f"{prefix}_wildcards_mode")


def extra_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """The request's `extra` entry for the chosen mode (nothing when the form has no such radio)."""
    mode = values.get(FIELD)
    if mode not in MODES:
        return {}
    return {OWN_KEY: {"enabled": mode != "Off", "combinatorial": mode == "Combinatorial"}}
