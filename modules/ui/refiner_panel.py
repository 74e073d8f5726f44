"""The "Refiner" accordion of the txt2img and img2img tabs (A1111 1.6): a checkpoint ("None" = no refiner) and
the fraction of the steps after which it takes over, read into the request's refiner fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.service.services import Services

NO_REFINER = "None"
DEFAULT_SWITCH_AT = 0.8  # A1111's default
# The request refuses 1.0 (the refiner would never run) and 0; the slider stays inside (0, 1).
SWITCH_MIN, SWITCH_MAX = 0.01, 0.99


@dataclass
class RefinerPanel:
    checkpoint: Any
    switch_at: Any

    def inputs(self) -> set[Any]:
        return {self.checkpoint, self.switch_at}

    def ordered(self) -> list[Any]:
        return [self.checkpoint, self.switch_at]

    def fields(self, data: dict[Any, Any]) -> dict[str, Any]:
        """The request's refiner fields from the submitted form (nothing for "None")."""
        name = data.get(self.checkpoint)
        if not name or name == NO_REFINER:
            return {}
        return {"refiner_checkpoint": name, "refiner_switch_at": data.get(self.switch_at, DEFAULT_SWITCH_AT)}

    def updates_from(self, services: Services, values: dict[str, Any]) -> tuple[list[Any], str]:
        """Updates for `ordered()` from an infotext's request fields (PNG Info / History "Send to txt2img"), and a
        note when the refiner is not here. Without a `Refiner` field the refiner is set to "None", as A1111 does."""
        checkpoints = services.models.checkpoints
        choices = choices_of(services)
        name = values.get("refiner_checkpoint")
        if not name:
            return [gr.update(choices=choices, value=NO_REFINER), gr.update()], ""
        found = checkpoints.find(name) or checkpoints.find(_without_hash(name))
        switch = values.get("refiner_switch_at")
        switch_update = gr.update(value=switch) if isinstance(switch, float) and SWITCH_MIN <= switch <= SWITCH_MAX \
            else gr.update()
        if found is None or not found.usable:
            return ([gr.update(choices=choices, value=NO_REFINER), switch_update],
                    f" Refiner {name!r} is not here; no refiner is set.")
        return [gr.update(choices=choices, value=found.title), switch_update], ""


def _without_hash(name: str) -> str:
    """A1111 writes the refiner as "file stem [short hash]"; the stem alone finds it when the hash differs."""
    return name.rsplit(" [", 1)[0] if name.endswith("]") else name


def choices_of(services: Services) -> list[str]:
    return [NO_REFINER] + [i.title for i in services.models.checkpoints.usable()]


def build(services: Services, prefix: str) -> RefinerPanel:
    with gr.Accordion("Refiner", open=False, elem_id=f"{prefix}_refiner"):
        with gr.Row():
            checkpoint = gr.Dropdown(choices_of(services), value=NO_REFINER, label="Checkpoint",
                                     info="Of the same family as the main checkpoint (for SDXL: also the SDXL refiner)",
                                     elem_id=f"{prefix}_refiner_checkpoint")
            switch_at = gr.Slider(SWITCH_MIN, SWITCH_MAX, value=DEFAULT_SWITCH_AT, step=0.01, label="Switch at",
                                  info="Fraction of the steps after which the refiner takes over",
                                  elem_id=f"{prefix}_refiner_switch_at")
    return RefinerPanel(checkpoint, switch_at)
