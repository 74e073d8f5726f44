"""The "Step cache" accordion of the txt2img and img2img tabs: one choice among DeepCache (UNet models) and
diffusers' caches (transformer models), read into the request's `deepcache_interval` or `step_cache`.

One radio rather than two controls because the request refuses both at once: the form cannot ask for what
`validate` would turn down. Which caches fit which model is said beside the choice; a mismatch is refused by the
engine with a message naming the right one, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.core.requests import MAX_DEEPCACHE_INTERVAL, STEP_CACHES

OFF, DEEPCACHE = "Off", "DeepCache"
CHOICES = (OFF, DEEPCACHE, *STEP_CACHES)
DEFAULT_INTERVAL = 3  # the full UNet every third step: under 2 levels of 255 on the demo model (bench/RESULTS.md)
NOTE = ("Lossy and opt-in: the picture changes a little, and the cache is named in its infotext. **DeepCache** is for "
        "SD 1.x/2.x/XL (UNet) models; **FirstBlockCache**, **TaylorSeer** and **MagCache** (Flux.1 only) are for "
        "Flux-class transformer models.")


@dataclass
class StepCachePanel:
    choice: Any
    interval: Any

    def inputs(self) -> set[Any]:
        return {self.choice, self.interval}

    def ordered(self) -> list[Any]:
        return [self.choice, self.interval]

    def fields(self, data: dict[Any, Any]) -> dict[str, Any]:
        """The request's cache fields from the submitted form (nothing when off)."""
        choice = data.get(self.choice) or OFF
        if choice == OFF:
            return {}
        if choice == DEEPCACHE:
            return {"deepcache_interval": data.get(self.interval, DEFAULT_INTERVAL)}
        return {"step_cache": choice}  # an unknown name reaches `validate`, which refuses it with the choices

    def updates_from(self, values: dict[str, Any]) -> list[Any]:
        """Updates for `ordered()` from an infotext's request fields (PNG Info / History "Send to"). Without a
        cache in the infotext the choice goes back to Off: the picture was made without one."""
        step_cache, interval = values.get("step_cache"), values.get("deepcache_interval")
        if step_cache in STEP_CACHES:
            return [gr.update(value=step_cache), gr.update()]
        if isinstance(interval, int) and 2 <= interval <= MAX_DEEPCACHE_INTERVAL:
            return [gr.update(value=DEEPCACHE), gr.update(value=interval)]
        return [gr.update(value=OFF), gr.update()]


def build(prefix: str) -> StepCachePanel:
    with gr.Accordion("Step cache", open=False, elem_id=f"{prefix}_step_cache"):
        gr.Markdown(NOTE, elem_id=f"{prefix}_step_cache_note")
        with gr.Row():
            choice = gr.Radio(list(CHOICES), value=OFF, label="Cache", elem_id=f"{prefix}_step_cache_choice")
            interval = gr.Slider(2, MAX_DEEPCACHE_INTERVAL, value=DEFAULT_INTERVAL, step=1,
                                 label="DeepCache interval", info="The full UNet runs every N-th step",
                                 elem_id=f"{prefix}_deepcache_interval")
    return StepCachePanel(choice, interval)
