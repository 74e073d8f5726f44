"""Hires. fix: draw small, upscale, then redraw at the large size with img2img (A1111's second pass).

Each batch's first pass ends as latents. They are upscaled either in latent space (the "Latent" modes) or
as pictures (decoded, through a pixel upscaler, encoded again), then noised with per-image noise drawn from
the same seeds at the large latent size, as A1111 does, and refined with `hr_second_pass_steps` img2img
steps that actually run (A1111's rule: the schedule is stretched to steps / denoising strength).

`plan` returns a `HiresPlan`: what `generation.generate` changes for the first pass (the request with the
upscaler resolved, the ControlNet units acting in it, the two-pass progress, infotext entries) and the
`SecondPass` that ends each txt2img batch. Nothing here reaches into the generation's own state.

Progress counts both passes as one bar. An interrupt during the first pass returns that pass's pictures;
during the second it returns what the second pass has drawn so far.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from modules.core.prompts import extract_loras
from modules.core.requests import CONTROL_HR_OPTIONS, GenerationRequest, RequestError
from modules.core.validation import hires_size
from modules.core.results import JobControl, StepInfo
from modules.engine import pipelines
from modules.engine.conditioning import encode_schedule
from modules.engine.controlnet.apply import ActiveControl, attached
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.engine.latents import cpu_generators, decode, encode, make_noise, step_callback, tensor_inputs
from modules.engine.models.families import checkpoint_family_group
from modules.engine.models.manager import LoadedModel
from modules.engine.models.source import ModelSource
from modules.engine.refiner import Handover, Resume, stopping
from modules.engine.samplers import SamplerRegistry
from modules.engine.upscaling import UpscalerError, UpscalerRegistry, is_latent, latent_upscale

LOW_RES_ONLY, HIGH_RES_ONLY = CONTROL_HR_OPTIONS.index("Low res only"), CONTROL_HR_OPTIONS.index("High res only")

log = logging.getLogger(__name__)


def second_pass_steps(steps: int, strength: float) -> tuple[int, float]:
    """(schedule length, strength for diffusers) so that exactly `steps` steps run, as A1111's hires pass
    does: the schedule is int(steps / strength) long and the last `steps` of it run."""
    total = max(steps, int(steps / min(strength, 0.999)))
    # diffusers runs int(total * strength) steps: a hair over `steps` so float rounding never loses one.
    return total, min(1.0, (steps + 1e-4) / total)


def check(request: GenerationRequest, samplers: SamplerRegistry, upscalers: UpscalerRegistry,
          models: ModelSource) -> None:
    """Refuse, before the job waits in the queue, a hires request naming something this server lacks."""
    if not request.enable_hr:
        return
    try:
        upscalers.find(request.hr_upscaler, latent_ok=True)
    except UpscalerError as exc:
        raise RequestError(f"Hires upscaler: {exc}") from None
    if request.hr_sampler:
        try:
            spec, schedule = samplers.resolve_with_schedule(request.hr_sampler, request.hr_schedule_type or None)
        except ValueError as exc:
            raise RequestError(f"Hires sampler: {exc}") from None
        if schedule not in spec.schedule_types:
            raise RequestError(f"Hires sampler {spec.name!r} has no {schedule!r} schedule type.")
    if request.hr_checkpoint:
        try:
            models.resolve(request.hr_checkpoint)
        except LookupError as exc:
            raise RequestError(f"Hires checkpoint: {exc.args[0] if exc.args else exc}") from None


def infotext_fields(request: GenerationRequest, sampler: str, schedule: str, checkpoint_title: str | None
                    ) -> dict[str, Any]:
    """A1111's hires entries: only what differs from the first pass is written, as A1111 does."""
    params: dict[str, Any] = {"Denoising strength": request.denoising_strength}
    if request.hr_resize_x == 0 and request.hr_resize_y == 0:
        params["Hires upscale"] = request.hr_scale
    else:
        params["Hires resize"] = f"{request.hr_resize_x}x{request.hr_resize_y}"
    if request.hr_second_pass_steps:
        params["Hires steps"] = request.hr_second_pass_steps
    params["Hires upscaler"] = request.hr_upscaler
    if request.hr_cfg is not None and request.hr_cfg != request.cfg_scale:
        params["Hires CFG Scale"] = request.hr_cfg
    if sampler != request.sampler:
        params["Hires sampler"] = sampler
    if schedule != request.schedule_type:
        params["Hires schedule type"] = schedule
    if request.hr_prompt and request.hr_prompt != request.prompt:
        params["Hires prompt"] = request.hr_prompt
    if request.hr_negative_prompt and request.hr_negative_prompt != request.negative_prompt:
        params["Hires negative prompt"] = request.hr_negative_prompt
    if checkpoint_title:
        params["Hires checkpoint"] = checkpoint_title
    return params


class TwoPassProgress:
    """Wraps a job's control so both passes report on one bar: step k of the second pass is shown as
    first-pass steps + k, out of first + second. Interrupt and skip are the job's own events."""

    def __init__(self, control: JobControl, first_steps: int, second_steps: int) -> None:
        self.first_steps, self.total = first_steps, first_steps + second_steps
        self.offset = 0
        self._outer = control
        self.control = JobControl(interrupt=control.interrupt, skip=control.skip, preview_every=control.preview_every,
                                  on_step=self._on_step if control.on_step is not None else None,
                                  on_image=control.on_image)

    def _on_step(self, info: StepInfo) -> None:
        assert self._outer.on_step is not None
        self._outer.on_step(StepInfo(self.offset + info.step, self.total, info.batch_index, info.batch_count,
                                     info.preview))


@dataclass
class SecondPass:
    """Everything the second pass of every batch shares; `run_batch` does one batch."""

    request: GenerationRequest  # with the upscaler's name resolved
    loaded: LoadedModel  # the first pass's checkpoint
    models: ModelSource
    samplers: SamplerRegistry
    upscalers: UpscalerRegistry
    sampler: str
    schedule: str
    steps: int  # steps that run
    cfg: float
    prompt: str
    negative: str
    size: tuple[int, int, int, int]  # upscale-to width, height, kept width, height (pixels)
    control: JobControl | None = None  # the job's control, seen through `progress` when there is one
    factors: tuple[torch.Tensor, torch.Tensor] | None = None  # latent -> RGB preview factors
    progress: TwoPassProgress | None = None
    warnings: list[str] = field(default_factory=list)
    controls: list[ActiveControl] = field(default_factory=list)  # the ControlNet units of the second pass
    refiner: Handover | None = None  # A1111's refiner acts in the second pass (its default "second pass")

    def run_batch(self, latents: torch.Tensor, batch_index: int, seeds: list[int], subseeds: list[int]
                  ) -> list[Image.Image]:
        request, control = self.request, self.control
        first_pipe = self.loaded.pipe
        if control is not None and (control.interrupt.is_set() or control.skip.is_set()):
            # Stopped in the first pass: that pass's pictures, as A1111 returns them.
            if control.interrupt.is_set():
                self._warn("Interrupted during the first pass: the first-pass pictures were returned.")
            return decode(first_pipe, latents)
        if self.progress is not None:
            self.progress.offset = request.steps
        try:
            if request.hr_checkpoint and \
                    str(self.models.resolve(request.hr_checkpoint).path) != str(self.loaded.info.path):
                with self.models.use(request.hr_checkpoint, request.vae) as other:
                    controls = self.controls
                    if controls and checkpoint_family_group(other.info.family) != \
                            checkpoint_family_group(self.loaded.info.family):
                        self._warn(f"ControlNet was left out of the hires pass: its models are for "
                                   f"{self.loaded.info.family}, the hires checkpoint is {other.info.family}.")
                        controls = []
                    return self._refine(other, first_pipe, latents, batch_index, seeds, subseeds, controls)
            return self._refine(self.loaded, first_pipe, latents, batch_index, seeds, subseeds, self.controls)
        finally:
            if self.progress is not None:
                self.progress.offset = 0

    def _warn(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)

    def _start(self, pipe: Any, first_pipe: Any, latents: torch.Tensor) -> torch.Tensor:
        """The upscaled first pass as latents of `pipe` at the kept size."""
        request = self.request
        to_w, to_h, keep_w, keep_h = self.size
        factor = pipe.vae_scale_factor
        if is_latent(request.hr_upscaler):
            start = latent_upscale(latents.float(), request.hr_upscaler, to_h // factor, to_w // factor)
        else:
            pictures = []
            for picture in decode(first_pipe, latents):
                if self.control is not None and self.control.interrupt.is_set():
                    break
                pictures.append(self.upscalers.upscale_to(picture, request.hr_upscaler, to_w // factor * factor,
                                                          to_h // factor * factor))
            if len(pictures) < latents.shape[0]:
                raise _Interrupted(decode(first_pipe, latents))
            start = torch.cat([encode(pipe, p) for p in pictures]).float()
        # Both sides set: keep the middle, as A1111 truncates the latents.
        cut_x, cut_y = (to_w - keep_w) // factor, (to_h - keep_h) // factor
        return start[:, :, cut_y // 2:start.shape[2] - (cut_y + 1) // 2, cut_x // 2:start.shape[3] - (cut_x + 1) // 2]

    def _refine(self, loaded: LoadedModel, first_pipe: Any, latents: torch.Tensor, batch_index: int,
                seeds: list[int], subseeds: list[int], controls: list[ActiveControl]) -> list[Image.Image]:
        request = self.request
        pipe = pipelines.derive(loaded, pipelines.IMG2IMG)
        try:
            init = self._start(pipe, first_pipe, latents)
        except _Interrupted as stop:
            self._warn("Interrupted while upscaling: the first-pass pictures were returned.")
            return stop.pictures
        if request.denoising_strength == 0:
            return decode(pipe, init)
        pipe.scheduler = self.samplers.make_scheduler(self.sampler, self.schedule, loaded.scheduler_config,
                                                      noise_seed=request.seed)
        if hasattr(pipe.scheduler, "noise_sampler_seed"):  # only the SDE samplers have a Brownian tree
            pipe.scheduler.noise_sampler_seed = list(seeds)
        n = len(seeds)
        noise = make_noise(tuple(init.shape[1:]), seeds, subseeds, request.subseed_strength)
        schedule = encode_schedule(pipe, self.prompt, self.negative, self.steps, clip_skip=request.clip_skip,
                                   decimal_is_fraction=True)
        total, strength = second_pass_steps(self.steps, request.denoising_strength)
        callback = step_callback(self.control, batch_index, request.batch_count, self.steps, self.factors,
                                 schedule, n)
        generators = cpu_generators(seeds, request.eta_noise_seed_delta)
        switch = self.refiner.switch(self.steps) if self.refiner else None  # the refiner's share of this pass
        with pipelines.starting_from(pipe, init, noise), attached(pipe, controls):
            images = pipe(
                **schedule[0].pipe_kwargs(n), image=init.to(pipe.unet.dtype), strength=strength,
                num_inference_steps=total, guidance_scale=self.cfg, generator=generators,
                **({"eta": request.eta_ddim} if request.eta_ddim else {}),  # DDIM's eta, if the pass uses DDIM
                **pipelines.aesthetic(pipe, **pipelines.aesthetic_scores(request)),  # an SDXL refiner as hires model
                callback_on_step_end=stopping(callback, switch * pipe.scheduler.order) if switch else callback,
                callback_on_step_end_tensor_inputs=tensor_inputs(pipe),
                output_type="latent" if switch else "pil").images
        if self.refiner is None or not switch:
            return images
        return self.refiner.finish(images, Resume(
            base_pipe=pipe, base_info=loaded.info, kind=pipelines.IMG2IMG, scheduler=pipe.scheduler, total=total,
            runs=self.steps, switch=switch, prompt=self.prompt, negative=self.negative, cfg=self.cfg,
            generators=generators, control=self.control, init=init, noise=noise, controls=controls,
            make_callback=lambda refined: step_callback(self.control, batch_index, request.batch_count, self.steps,
                                                        self.factors, refined, n)))


class _Interrupted(Exception):
    def __init__(self, pictures: list[Image.Image]) -> None:
        super().__init__("interrupted")
        self.pictures = pictures


@dataclass
class HiresPlan:
    """What the hires fix changes in a txt2img run; `generation.generate` applies it."""

    request: GenerationRequest  # the upscaler's name resolved, as the infotext writes it
    first_controls: list[ActiveControl]  # the ControlNet units acting in the first pass
    control: JobControl | None  # the job's control seen through the two-pass progress
    infotext: dict[str, Any]  # hires entries, and the units' entries with their "Hr Option"
    second: SecondPass
    hr_maps: list[Image.Image | None] = field(default_factory=list)  # per enabled unit: its second-pass map


@dataclass
class FirstPass:
    """What `plan` needs to know of the txt2img run it extends."""

    request: GenerationRequest
    loaded: LoadedModel
    control: JobControl | None
    factors: tuple[torch.Tensor, torch.Tensor] | None
    control_units: list[tuple[Any, ActiveControl]]  # every enabled ControlNet unit, with its first-pass model
    preprocessors: PreprocessorRegistry | None


def plan(first: FirstPass, models: ModelSource, samplers: SamplerRegistry, upscalers: UpscalerRegistry,
         route_kind: str, warnings: list[str]) -> HiresPlan | None:
    """The second pass for a txt2img run (None when the hires fix is off or cannot apply)."""
    request = first.request
    if not request.enable_hr:
        return None
    if route_kind != pipelines.TXT2IMG:
        warnings.append("The hires fix was skipped: this checkpoint runs txt2img as an inpaint.")
        return None
    request = replace(request, hr_upscaler=upscalers.find(request.hr_upscaler, latent_ok=True))
    sampler, schedule = request.sampler, request.schedule_type
    if request.hr_sampler:
        spec, schedule = samplers.resolve_with_schedule(request.hr_sampler, request.hr_schedule_type or None)
        sampler = spec.name
    elif request.hr_schedule_type:
        schedule = samplers.resolve_with_schedule(sampler, request.hr_schedule_type)[1]
    title = models.resolve(request.hr_checkpoint).title if request.hr_checkpoint else None
    hr_prompt, tags, _ = extract_loras(request.hr_prompt or request.prompt)
    if request.hr_prompt and tags != extract_loras(request.prompt)[1]:
        warnings.append("LoRA tags in the hires prompt are ignored: the first prompt's LoRAs stay in effect.")
    steps = request.hr_second_pass_steps or request.steps
    second = SecondPass(request=request, loaded=first.loaded, models=models, samplers=samplers, upscalers=upscalers,
                        sampler=sampler, schedule=schedule, steps=steps,
                        cfg=request.cfg_scale if request.hr_cfg is None else request.hr_cfg,
                        prompt=hr_prompt, negative=request.hr_negative_prompt or request.negative_prompt,
                        size=hires_size(request), control=first.control, factors=first.factors, warnings=warnings)
    infotext: dict[str, Any] = {}
    first_controls = [active for _, active in first.control_units]
    hr_maps: list[Image.Image | None] = []
    if first.control_units:
        # Units act in both passes unless told otherwise; the second pass preprocesses their pictures again at
        # its own size, as sd-webui-controlnet does.
        first_controls = [active for unit, active in first.control_units if unit.hr_option != HIGH_RES_ONLY]
        _, _, keep_w, keep_h = second.size
        at_hr = [active.at_size(unit, keep_w, keep_h, first.preprocessors) if unit.hr_option != LOW_RES_ONLY
                 or unit.save_detected_map else None for unit, active in first.control_units]
        second.controls = [hr for (unit, _), hr in zip(first.control_units, at_hr) if unit.hr_option != LOW_RES_ONLY]
        # sd-webui-controlnet returns each unit's second-pass map whatever its Hr Option says.
        hr_maps = [hr.image if hr is not None else None for hr in at_hr]
        for index, (unit, active) in enumerate(first.control_units):
            key, value = active.infotext(unit, index, hires=True)
            infotext[key] = value
    control = first.control
    if control is not None:
        second.progress = TwoPassProgress(control, request.steps, steps)
        control = second.control = second.progress.control
    infotext.update(infotext_fields(request, sampler, schedule, title))
    return HiresPlan(request=request, first_controls=first_controls, control=control, infotext=infotext,
                     second=second, hr_maps=hr_maps)
