"""The "Hires. fix" accordion of the txt2img tab: A1111's controls, read into the request's hires fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.engine.samplers import SCHEDULE_TYPES

if TYPE_CHECKING:
    from modules.service.services import Services

SAME_SAMPLER, SAME_SCHEDULE, SAME_CHECKPOINT = "Use same sampler", "Use same scheduler", "Use same checkpoint"


@dataclass
class HiresPanel:
    components: dict[str, Any]

    def inputs(self) -> set[Any]:
        return set(self.components.values())

    def ordered(self) -> list[Any]:
        return list(self.components.values())

    def updates_from(self, services: Services, values: dict[str, Any]) -> tuple[list[Any], str]:
        """Updates for `ordered()` from an infotext's request fields (PNG Info / History "Send to txt2img"), and a
        note naming what is not available here. Without hires fields the fix is switched off, as A1111 does.

        The dropdowns get their current choices with the value (a checkpoint's title gains its hash after
        start-up; a model may have been added), and a number outside a slider's range is left out, named: Gradio
        refuses both on the next Generate otherwise.
        """
        if not values.get("enable_hr"):
            return [gr.update(value=False)] + [gr.update() for _ in self.components][1:], ""
        note = ""
        upscalers = services.upscalers
        wanted: dict[str, Any] = {"enable": True, "prompt": values.get("hr_prompt", ""),
                                  "negative": values.get("hr_negative_prompt", "")}
        numbers = {"steps": (values.get("hr_second_pass_steps", 0), 0, 150, "Hires steps"),
                   "denoising": (values.get("denoising_strength", 0.7), 0, 1, "Denoising strength"),
                   "scale": (values.get("hr_scale", 2.0 if not values.get("hr_resize_x") else 1.0), 1, 4,
                             "Hires upscale"),
                   "resize_x": (values.get("hr_resize_x", 0), 0, 2048, "Hires resize width"),
                   "resize_y": (values.get("hr_resize_y", 0), 0, 2048, "Hires resize height"),
                   "cfg": (values.get("hr_cfg", values.get("cfg_scale")), 0, 30, "Hires CFG Scale")}
        for name, (value, low, high, label) in numbers.items():
            if value is None:
                continue
            if low <= value <= high:
                wanted[name] = value
            else:
                note += f" {label} {value:g} is outside this panel's range ({low}–{high}); the current value is kept."
        extra: dict[str, dict[str, Any]] = {"upscaler": {"choices": upscalers.hires_names()}}
        if "hr_upscaler" in values:
            try:
                wanted["upscaler"] = upscalers.find(values["hr_upscaler"], latent_ok=True)
            except Exception:
                note += f" Hires upscaler {values['hr_upscaler']!r} is not here; the current one is kept."
        wanted["sampler"], wanted["schedule"] = SAME_SAMPLER, SAME_SCHEDULE
        if values.get("hr_sampler"):
            try:
                spec, schedule = services.samplers.resolve_with_schedule(values["hr_sampler"],
                                                                         values.get("hr_schedule_type") or None)
                wanted["sampler"] = spec.name
                if values.get("hr_schedule_type") or schedule != "Automatic":
                    wanted["schedule"] = schedule
            except ValueError:
                note += f" Hires sampler {values['hr_sampler']!r} is not available here; the first pass's is used."
        elif values.get("hr_schedule_type") in SCHEDULE_TYPES:
            wanted["schedule"] = values["hr_schedule_type"]
        checkpoints = services.models.checkpoints
        wanted["checkpoint"] = SAME_CHECKPOINT
        extra["checkpoint"] = {"choices": [SAME_CHECKPOINT] + [i.title for i in checkpoints.usable()]}
        if values.get("hr_checkpoint"):
            found = checkpoints.find(values["hr_checkpoint"])
            if found is not None and found.usable:
                wanted["checkpoint"] = found.title
            else:
                note += f" Hires checkpoint {values['hr_checkpoint']!r} is not here; the same checkpoint is used."
        updates = [gr.update(**extra.get(name, {}), **({"value": wanted[name]} if wanted.get(name) is not None else {}))
                   for name in self.components]
        return updates, note

    def fields(self, data: dict[Any, Any], first_cfg: float | None = None) -> dict[str, Any]:
        """The request's hires fields from the submitted form ("Use same ..." = as in the first pass)."""
        v = {name: data[component] for name, component in self.components.items()}
        if not v["enable"]:
            return {}
        cfg = v["cfg"]
        return dict(enable_hr=True, hr_upscaler=v["upscaler"], hr_scale=v["scale"], hr_second_pass_steps=v["steps"],
                    denoising_strength=v["denoising"], hr_resize_x=v["resize_x"], hr_resize_y=v["resize_y"],
                    hr_cfg=None if cfg is None or cfg == first_cfg else cfg,
                    hr_sampler="" if v["sampler"] == SAME_SAMPLER else v["sampler"],
                    hr_schedule_type="" if v["schedule"] == SAME_SCHEDULE else v["schedule"],
                    hr_checkpoint="" if v["checkpoint"] == SAME_CHECKPOINT else (v["checkpoint"] or ""),
                    hr_prompt=v["prompt"] or "", hr_negative_prompt=v["negative"] or "")


def build(services: Services, prefix: str = "txt2img", cfg_default: float = 7.0) -> HiresPanel:
    upscalers = services.upscalers
    checkpoints = [i.title for i in services.models.checkpoints.usable()]
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{prefix}_hr"):
        enable = gr.Checkbox(label="Enable", value=False, elem_id=f"{prefix}_enable_hr")
        with gr.Row():
            upscaler = gr.Dropdown(upscalers.hires_names(), value="Latent", label="Upscaler",
                                   elem_id=f"{prefix}_hr_upscaler")
            steps = gr.Slider(0, 150, value=0, step=1, label="Hires steps (0 = same as sampling)",
                              elem_id=f"{prefix}_hires_steps")
            denoising = gr.Slider(0, 1, value=0.7, step=0.01, label="Denoising strength",
                                  elem_id=f"{prefix}_denoising_strength")
        with gr.Row():
            scale = gr.Slider(1, 4, value=2, step=0.05, label="Upscale by", elem_id=f"{prefix}_hr_scale")
            resize_x = gr.Slider(0, 2048, value=0, step=8, label="Resize width to", elem_id=f"{prefix}_hr_resize_x")
            resize_y = gr.Slider(0, 2048, value=0, step=8, label="Resize height to", elem_id=f"{prefix}_hr_resize_y")
        with gr.Row():
            checkpoint = gr.Dropdown([SAME_CHECKPOINT] + checkpoints, value=SAME_CHECKPOINT, label="Hires checkpoint",
                                     elem_id=f"{prefix}_hr_checkpoint")
            sampler = gr.Dropdown([SAME_SAMPLER] + services.samplers.names(), value=SAME_SAMPLER,
                                  label="Hires sampling method", elem_id=f"{prefix}_hr_sampler")
            schedule = gr.Dropdown([SAME_SCHEDULE] + list(SCHEDULE_TYPES), value=SAME_SCHEDULE,
                                   label="Hires schedule type", elem_id=f"{prefix}_hr_scheduler")
            cfg = gr.Slider(0, 30, value=cfg_default, step=0.5, label="Hires CFG Scale", elem_id=f"{prefix}_hr_cfg")
        prompt = gr.Textbox(label="Hires prompt (empty = same as the prompt)", lines=2, elem_id=f"{prefix}_hr_prompt")
        negative = gr.Textbox(label="Hires negative prompt", lines=2, elem_id=f"{prefix}_hr_neg_prompt")
    return HiresPanel({"enable": enable, "upscaler": upscaler, "steps": steps, "denoising": denoising, "scale": scale,
                       "resize_x": resize_x, "resize_y": resize_y, "checkpoint": checkpoint, "sampler": sampler,
                       "schedule": schedule, "cfg": cfg, "prompt": prompt, "negative": negative})
