"""Run ControlNet units alongside any of our pipelines (txt2img, img2img, inpaint; SD 1.x, 2.x, XL).

Rather than one diffusers ControlNet pipeline class per mode and family, the pipeline's UNet is wrapped for
the duration of the call: before each UNet evaluation the enabled units compute their residuals, scaled by
weight and control mode, and the real UNet adds them. That is what sd-webui-controlnet and Forge do to
A1111's UNet, and it keeps every other feature of our pipelines (own latents, prompt schedules, samplers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from PIL import Image

from modules.core.requests import CONTROL_HR_OPTIONS, CONTROL_MODES, ControlUnit
from modules.engine.controlnet import ip_adapter
from modules.engine.controlnet.preprocessors import (
    PreprocessorRegistry,
    fit_to,
    is_reference_module,
    pixel_perfect_resolution,
)

if TYPE_CHECKING:  # the manager loads ControlNets; this module only uses them
    from modules.engine.models.registry import CheckpointInfo
    from modules.engine.models.source import ModelSource

BALANCED, PROMPT_MORE, CONTROL_MORE = range(3)
SOFT_INJECTION = 0.825  # sd-webui-controlnet's per-layer falloff for the two non-balanced modes


@dataclass
class ActiveControl:
    """One enabled unit, ready to run: its model, its control map at the output size, and its settings."""

    name: str
    model: Any  # diffusers ControlNetModel
    image: Image.Image  # the control map at the output size
    weight: float
    start: float
    end: float
    mode: int
    # False for units that act inside the UNet's attention instead of adding residuals (IP-Adapter, ip_adapter.py)
    residuals: ClassVar[bool] = True

    def steer(self, unet: Any, fraction: float, cfg: bool) -> None:
        """Set up the next evaluation of `unet` (only units without residuals have anything to do)."""

    def tensor(self, batch: int, device: Any, dtype: torch.dtype) -> torch.Tensor:
        arr = np.asarray(self.image.convert("RGB"), dtype=np.float32) / 255.0  # ControlNets take 0..1 maps
        t = torch.from_numpy(arr).permute(2, 0, 1)[None].to(device=device, dtype=dtype)
        return t.expand(batch, -1, -1, -1)

    def infotext(self, unit: ControlUnit, index: int, hires: bool = False) -> tuple[str, str]:
        """sd-webui-controlnet's infotext entry: `ControlNet 0: "Module: canny, Model: ..., Weight: 1, ..."`;
        `Hr Option` only when the hires fix is on (the only time it means anything)."""
        parts = [f"Module: {unit.module}", f"Model: {self.name}", f"Weight: {self.weight:g}",
                 f"Resize Mode: {('Just Resize', 'Crop and Resize', 'Resize and Fill')[unit.resize_mode]}",
                 f"Processor Res: {unit.processor_res}", f"Guidance Start: {self.start:g}",
                 f"Guidance End: {self.end:g}", f"Pixel Perfect: {unit.pixel_perfect}",
                 f"Control Mode: {CONTROL_MODES[self.mode]}"]
        if hires:
            parts.append(f"Hr Option: {CONTROL_HR_OPTIONS[unit.hr_option]}")
        return f"ControlNet {index}", ", ".join(parts)

    def at_size(self, unit: ControlUnit, width: int, height: int, preprocessors: PreprocessorRegistry,
                fallback: Image.Image | None = None) -> ActiveControl:
        """The same unit for another output size (the hires pass): its picture preprocessed again at that size,
        so edges stay sharp instead of being the first pass's map enlarged."""
        picture = unit.image if unit.image is not None else fallback
        return replace(self, image=control_map(unit, picture, width, height, preprocessors))


def control_map(unit: ControlUnit, picture: Image.Image, width: int, height: int,
                preprocessors: PreprocessorRegistry) -> Image.Image:
    """The unit's picture, preprocessed and fitted to the output size (what the preview button shows)."""
    pre = preprocessors.get(unit.module)
    resolution = (pixel_perfect_resolution(picture, width, height, unit.resize_mode) if unit.pixel_perfect
                  else unit.processor_res)
    mapped = preprocessors.run(pre.name, picture, resolution, unit.threshold_a, unit.threshold_b)
    return fit_to(mapped, width, height, unit.resize_mode, pre.lines)


@dataclass
class ReferenceControl(ActiveControl):
    """An IP-Adapter unit: its picture steers the UNet's cross-attention (ip_adapter.py), no residuals."""

    residuals: ClassVar[bool] = False
    reference: ip_adapter.Reference | None = None

    def steer(self, unet: Any, fraction: float, cfg: bool) -> None:
        if self.reference is not None:
            self.reference.steer(unet, fraction, cfg)

    def at_size(self, unit: ControlUnit, width: int, height: int, preprocessors: PreprocessorRegistry,
                fallback: Image.Image | None = None) -> ReferenceControl:
        return self  # the picture goes to CLIP at CLIP's size, whatever the pass's size


def _reference(unit: ControlUnit, picture: Image.Image, models: ModelSource,
               checkpoint: CheckpointInfo) -> ReferenceControl:
    adapter = models.ip_adapter(unit.model, unit.module, checkpoint)
    if unit.control_mode != BALANCED:  # validated at submit; a unit built elsewhere still may not ignore it
        raise ValueError(f"IP-Adapter unit {adapter.info.name}: control mode {CONTROL_MODES[unit.control_mode]} "
                         "is for ControlNets; an IP-Adapter acts by its weight. Choose Balanced.")
    reference = ip_adapter.Reference(adapter, picture, unit.resize_mode, unit.weight, unit.guidance_start,
                                     unit.guidance_end)
    return ReferenceControl(adapter.info.name, None, picture, unit.weight, unit.guidance_start, unit.guidance_end,
                            unit.control_mode, reference=reference)


def prepare(units: tuple[ControlUnit, ...], models: ModelSource, checkpoint: CheckpointInfo,
            preprocessors: PreprocessorRegistry,
            width: int, height: int, fallback: Image.Image | None) -> list[tuple[ControlUnit, ActiveControl]]:
    """Load each enabled unit's model (refusing another family's) and make its control map; IP-Adapter units
    get their adapter and encoder instead, and share one `ip_adapter.Job`."""
    active: list[tuple[ControlUnit, ActiveControl]] = []
    for unit in units:
        if not unit.enabled:
            continue
        picture = unit.image if unit.image is not None else fallback
        if picture is None:
            raise ValueError("a ControlNet unit has no picture")  # validate() refuses this earlier
        if is_reference_module(unit.module):
            active.append((unit, _reference(unit, picture, models, checkpoint)))
            continue
        model = models.controlnet(unit.model, checkpoint)
        name = models.find_controlnet(unit.model).name
        active.append((unit, ActiveControl(name, model, control_map(unit, picture, width, height, preprocessors),
                                           unit.weight, unit.guidance_start, unit.guidance_end, unit.control_mode)))
    ip_adapter.Job([c.reference for _, c in active if isinstance(c, ReferenceControl) and c.reference])
    return active


class ControlledUNet:
    """Stands in for `pipe.unet` during one call: adds the controls' residuals to every evaluation.

    Everything but the call is the real UNet's (config, dtype, device...), so the pipeline cannot tell.
    `fraction` (of the sampling steps done) is advanced by the generation's step callback, per timestep that
    runs, so it is right for samplers with several evaluations per step (Heun, DPM2) and for img2img's shortened
    schedules; a unit acts while it lies in [start, end].
    """

    def __init__(self, unet: Any, pipe: Any, controls: list[ActiveControl]) -> None:
        self.__dict__.update(_unet=unet, _pipe=pipe, _controls=controls, fraction=0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unet, name)

    def _residuals(self, control: ActiveControl, sample: torch.Tensor, timestep: Any, context: torch.Tensor,
                   added: dict | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        model = control.model
        cfg = bool(getattr(self._pipe, "do_classifier_free_guidance", False)) and sample.shape[0] % 2 == 0
        # 9-channel inpainting UNets: the ControlNet sees only the latents, as in sd-webui-controlnet.
        x = sample[:, : model.config.in_channels].to(model.dtype)
        cond_only = control.mode == CONTROL_MORE and cfg
        if cond_only:  # "ControlNet is more important": only the prompt's half is steered
            half = sample.shape[0] // 2
            x, context = x[half:], context[half:]
            added = {k: v[half:] for k, v in added.items()} if added else added
            if isinstance(timestep, torch.Tensor) and timestep.ndim > 0 and timestep.shape[0] == sample.shape[0]:
                timestep = timestep[half:]
        hint = control.tensor(x.shape[0], x.device, model.dtype)
        kwargs = {"added_cond_kwargs": added} if added else {}
        down, mid = model(x, timestep, encoder_hidden_states=context.to(model.dtype), controlnet_cond=hint,
                          conditioning_scale=1.0, return_dict=False, **kwargs)
        layers = list(down) + [mid]
        if control.mode == BALANCED:
            scales = [control.weight] * len(layers)
        else:  # soft injection: deeper layers (and the middle block) steer more than the shallow ones
            # sd-webui-controlnet's exponents 12, 11, ... from the shallowest layer: SD 1.x's 13 outputs end at 0
            # (the middle block at full weight), SDXL's 10 at 3, as that extension does it.
            scales = [control.weight * SOFT_INJECTION ** float(12 - i) for i in range(len(layers))]
        layers = [r * s for r, s in zip(layers, scales)]
        if cond_only:
            layers = [torch.cat([torch.zeros_like(r), r]) for r in layers]
        return layers[:-1], layers[-1]

    def __call__(self, sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor, *args: Any,
                 **kwargs: Any) -> Any:
        fraction = self.fraction
        down_total: list[torch.Tensor] | None = None
        mid_total: torch.Tensor | None = None
        cfg = bool(getattr(self._pipe, "do_classifier_free_guidance", False)) and sample.shape[0] % 2 == 0
        for control in self._controls:
            if not control.residuals:
                control.steer(self._unet, fraction, cfg)
                continue
            if not control.start <= fraction <= control.end or control.weight == 0:
                continue
            down, mid = self._residuals(control, sample, timestep, encoder_hidden_states,
                                        kwargs.get("added_cond_kwargs"))
            if down_total is None:
                down_total, mid_total = down, mid
            else:  # several units (MultiControlNet): residuals add up
                down_total = [a + b for a, b in zip(down_total, down)]
                mid_total = mid_total + mid
        if down_total is not None:
            dtype = self._unet.dtype
            kwargs["down_block_additional_residuals"] = [d.to(dtype) for d in down_total]
            kwargs["mid_block_additional_residual"] = mid_total.to(dtype)
        return self._unet(sample, timestep, encoder_hidden_states, *args, **kwargs)


@contextmanager
def attached(pipe: Any, controls: list[ActiveControl]) -> Iterator[ControlledUNet | None]:
    """Wrap `pipe.unet` for one call. The pipeline's own __setattr__ would rewrite its config, so the
    instance attribute is swapped directly and always put back."""
    if not controls:
        yield None
        return
    unet = pipe.unet
    job = next((c.reference.job for c in controls if isinstance(c, ReferenceControl) and c.reference), None)
    wrapper = ControlledUNet(unet, pipe, controls)
    with ip_adapter.installed(unet, job):  # IP-Adapters: in the UNet for this call only
        object.__setattr__(pipe, "unet", wrapper)
        try:
            yield wrapper
        finally:
            object.__setattr__(pipe, "unet", unet)
