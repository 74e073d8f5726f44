"""The inpaint tabs' Soft inpainting accordion: A1111's checkbox and six sliders, with its labels and ranges."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import gradio as gr

from modules.core.soft_inpainting import LABELS, RANGES, SoftInpainting

STEPS = {"schedule_bias": 0.1, "preservation_strength": 0.05, "transition_contrast_boost": 0.5,
         "mask_influence": 0.05, "difference_threshold": 0.25, "difference_contrast": 0.25}
HELP = {"schedule_bias": "Above 1 keeps more of the original early in sampling, below 1 late.",
        "preservation_strength": "Higher keeps more of the original where the mask is grey.",
        "transition_contrast_boost": "Higher keeps the contrast of blended areas (too high over-saturates).",
        "mask_influence": "0: the final paste follows what the model changed; 1: it follows the mask.",
        "difference_threshold": "How much a pixel must change before the original gives way to it.",
        "difference_contrast": "Low: gradual transitions (may ghost); high: sudden ones."}


def build() -> dict[str, Any]:
    """Components named soft_* (the img2img form reads them by these names)."""
    c: dict[str, Any] = {}
    with gr.Accordion("Soft inpainting", open=False, elem_id="img2img_soft_inpainting"):
        c["soft_enabled"] = gr.Checkbox(False, label="Soft inpainting: grey mask values repaint in proportion",
                                        elem_id="img2img_soft_inpainting_enabled")
        default = SoftInpainting()
        for f in fields(SoftInpainting):
            low, high = RANGES[f.name]
            c[f"soft_{f.name}"] = gr.Slider(low, high, value=getattr(default, f.name), step=STEPS[f.name],
                                            label=LABELS[f.name].removeprefix("Soft inpainting ").capitalize(),
                                            info=HELP[f.name], elem_id=f"img2img_soft_{f.name}")
    return c


def settings_from(form: dict[str, Any]) -> SoftInpainting | None:
    if not form.get("soft_enabled"):
        return None
    default = SoftInpainting()
    return SoftInpainting(**{f.name: form.get(f"soft_{f.name}", getattr(default, f.name))
                             for f in fields(SoftInpainting)})


def names() -> list[str]:
    """The component names of `build()`, in its order (for "Send to inpaint" outputs)."""
    return ["soft_enabled"] + [f"soft_{f.name}" for f in fields(SoftInpainting)]


def updates_from(settings: SoftInpainting | None) -> list[Any]:
    """Updates for `names()` from a picture's settings (PNG Info / History "Send to"): on with its values, or off
    with the sliders left as they are."""
    if settings is None:
        return [gr.update(value=False)] + [gr.update() for _ in fields(SoftInpainting)]
    return [gr.update(value=True)] + [gr.update(value=getattr(settings, f.name)) for f in fields(SoftInpainting)]
