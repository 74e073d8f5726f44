"""The refiner (A1111 1.6+): another checkpoint of the same latent family takes over the sampling after a
fraction of the steps, in txt2img, img2img/inpaint and the hires pass.

How the hand-over is made exact. The pass's pipeline runs its usual schedule but stops (diffusers' `_interrupt`)
once the base's k steps are done, and returns its latents. The refiner's img2img (or inpaint) pipeline then runs
the *same* schedule from step k: it starts from those latents (no new noise), steps with the *same scheduler
object* whose state (step index, the multistep solvers' history, the SDE samplers' Brownian tree) is put back
after the pipeline's own `set_timesteps`, and draws ancestral noise from the *same* per-image generators. So the
picture is one run of the sampler whose model changes at step k, which is what A1111 does by reloading weights
inside its sampler loop. The refiner's conditioning is encoded by its own text encoders, its own VAE decodes,
and the job's LoRAs, VAE and embeddings apply to it through the model manager, as they would to any checkpoint.
(Swapping only the UNet in a step callback would keep the base's text encoders and VAE: not what A1111 does.)

The switch counts sampling steps, as A1111 1.6 did and later versions do with "Refiner switch by sampling
steps" on (by default they switch at a noise level instead); the infotext says so with that field, so A1111
reading it switches the same way. With 20 steps and 0.8 the base makes steps 1-16 and the refiner 17-20. With the hires fix on, the refiner acts in the second pass only, A1111's
default ("Hires fix: which pass to enable refiner for: second pass").

Memory: the manager lends the refiner like any checkpoint, so with `--models-in-ram 1` it replaces the base in
the cache (the base is read again by the next job that needs it); the base's pipeline object stays alive until
the job ends, so a job holds both for its duration whatever the cache size, as the hires checkpoint does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.core.results import JobControl
from modules.engine import pipelines
from modules.engine.conditioning import StepConditioning, conditioning_at, encode_schedule
from modules.engine.controlnet.apply import ActiveControl, ControlledUNet, attached
from modules.engine.latents import decode, tensor_inputs
from modules.engine.models import families
from modules.engine.models.loras import LoraInfo
from modules.engine.models.source import ModelSource

Callback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


def switch_step(switch_at: float, steps: int) -> int:
    """A1111's rule: the refiner takes over at the first 0-based step s with s / steps >= switch_at (`steps`
    when there is none: the refiner never runs)."""
    return next((s for s in range(steps) if s / steps >= switch_at), steps)


def short_title(name: str, short_hash: str | None) -> str:
    """A1111's `short_title`, which the `Refiner` infotext field carries: "file stem [short hash]"."""
    stem = os.path.splitext(os.path.basename(name))[0]
    return f"{stem} [{short_hash}]" if short_hash else stem


def family_error(refiner: Any, checkpoint: Any) -> str | None:
    """Why `refiner` cannot refine `checkpoint` (CheckpointInfos), or None. Latents, prediction type and the
    scheduler carry over from one model to the other, so both must work in the same latent space: the same
    family, or the SDXL refiner and SDXL."""
    if families.latent_family(refiner.family) != families.latent_family(checkpoint.family):
        return (f"The refiner {refiner.name} is {families.label(refiner.family)} and the checkpoint "
                f"{checkpoint.name} is {families.label(checkpoint.family)}: a refiner continues the checkpoint's "
                f"latents, so it must be of the same family. Choose a {families.label(checkpoint.family)} refiner.")
    if refiner.inpainting and not checkpoint.inpainting:
        # Its UNet also wants the mask and the masked picture, which only an inpainting checkpoint's run has.
        return (f"The refiner {refiner.name} is an inpainting model; it can refine only an inpainting checkpoint, "
                f"and {checkpoint.name} is not one. Choose an ordinary checkpoint as the refiner.")
    return None


def resolve(models: ModelSource, query: str) -> Any:
    """The refiner's CheckpointInfo; also by A1111's infotext form "file stem [short hash]"."""
    try:
        return models.resolve(query)
    except LookupError:
        stripped = re.sub(r"\s*\[[0-9a-fA-F]{8,}\]$", "", query)
        if stripped == query:
            raise
        return models.resolve(stripped)


def makes_no_pictures(checkpoint: Any, mode: str) -> str | None:
    """Why `checkpoint` cannot run `mode` alone: the SDXL refiner was trained on the last, low-noise steps only
    (diffusers ships it as an img2img pipeline), so it refines pictures but makes none from noise."""
    if checkpoint.family == "sdxl-refiner" and mode == "txt2img":
        return (f"{checkpoint.name} is an SDXL refiner: it refines pictures and cannot make one from noise. Choose it "
                "as the Refiner of an SDXL checkpoint, or use it in img2img.")
    return None


def check(request: GenerationRequest, checkpoint: Any, models: ModelSource) -> None:
    """At submit time: the checkpoint can make this picture alone; the refiner exists (LookupError naming it, as
    for a missing checkpoint) and fits the checkpoint (and the hires checkpoint, whose pass it refines when the
    hires fix is on)."""
    error = makes_no_pictures(checkpoint, request.mode)
    if error:
        raise RequestError(error)
    if not request.refiner_checkpoint:
        return
    try:
        refiner = resolve(models, request.refiner_checkpoint)
    except LookupError as exc:
        raise RequestError(f"Refiner: {exc.args[0] if exc.args else exc}") from None
    passes = [checkpoint]
    if request.enable_hr and request.hr_checkpoint:
        passes = [models.resolve(request.hr_checkpoint)]  # with the hires fix the refiner acts in the 2nd pass
    for info in passes:
        error = family_error(refiner, info)
        if error:
            raise RequestError(error)


def stopping(callback: Callback, iterations: int) -> Callback:
    """The pass's callback, ending the loop once the base's `iterations` are done (the rest is the refiner's)."""
    def stop(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = callback(pipe, step, timestep, kwargs)
        if step + 1 >= iterations:
            pipe._interrupt = True  # diffusers skips the remaining iterations and returns the latents as they are
        return out

    return stop


def _offset(callback: Callback, done: int) -> Callback:
    """The refiner's iterations seen as the pass's: prompt editing, progress and ControlNet timing continue."""
    def shifted(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = callback(pipe, step + done, timestep, kwargs)
        if isinstance(pipe.unet, ControlledUNet):
            pipe.unet.fraction = (done + step + 1) / max(1, done + pipe.num_timesteps)
        return out

    return shifted


@contextmanager
def carried_over(scheduler: Any) -> Iterator[None]:
    """Keep the scheduler's state across the refiner pipeline's `set_timesteps`, which would reset it. The
    timesteps are the same ones (same count, same config), so putting the old state back is exact."""
    state = dict(scheduler.__dict__)
    original = scheduler.set_timesteps

    def set_timesteps(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        scheduler.__dict__.update(state)

    scheduler.set_timesteps = set_timesteps
    try:
        yield
    finally:
        del scheduler.set_timesteps


@dataclass
class Resume:
    """One batch of one pass, at the switch: what the refiner needs to continue it."""

    base_pipe: Any  # the pass's pipeline (decodes when the job was stopped before the switch)
    base_info: Any  # its CheckpointInfo
    kind: str  # the refiner's pipeline: img2img (txt2img and the hires pass) or the mode's own
    scheduler: Any  # the pass's scheduler, mid-run
    total: int  # num_inference_steps the pass was called with
    runs: int  # steps the pass runs (its prompt-editing schedule's length)
    switch: int  # steps the base made
    prompt: str
    negative: str
    cfg: float
    generators: list[torch.Generator]
    make_callback: Callable[[list[StepConditioning]], Callback]  # the pass's step callback, for a schedule
    control: JobControl | None = None
    init: torch.Tensor | None = None  # img2img/inpaint: the picture's latents and its noise (mask blending)
    noise: torch.Tensor | None = None
    mode_kwargs: dict[str, Any] = field(default_factory=dict)  # image=, and the inpaint pipeline's mask_image...
    controls: list[ActiveControl] = field(default_factory=list)


@dataclass
class Handover:
    """The job's refiner, shared by its batches; `used` names it once it ran (for the infotext)."""

    models: ModelSource
    checkpoint: str
    switch_at: float
    vae: str
    loras: list[tuple[LoraInfo, float, float]]
    clip_skip: int
    warnings: list[str]
    aesthetic: dict[str, float] = field(default_factory=dict)  # an SDXL refiner's scores (pipelines.aesthetic)
    used: Any = None  # the refiner's CheckpointInfo, after it made a step

    def switch(self, steps: int) -> int | None:
        """Steps the base makes in a pass of `steps`, or None when the refiner would get none."""
        k = switch_step(self.switch_at, steps)
        if k >= steps:
            self._warn(f"Refiner switch at {self.switch_at:g} of {steps} steps leaves no step for the refiner: "
                       "it did not run. Lower 'Switch at'.")
            return None
        return k

    def _warn(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)

    def infotext(self) -> dict[str, Any]:
        if self.used is None:
            return {}
        return {"Refiner": short_title(self.used.name, self.used.short_hash), "Refiner switch at": self.switch_at,
                "Refiner switch by sampling steps": True}

    def finish(self, latents: torch.Tensor, resume: Resume, output_type: str = "pil") -> list[Image.Image]:
        """The rest of the pass on the refiner, from the base's latents; the base's picture if the job was
        interrupted or skipped before the switch."""
        control = resume.control
        if control is not None and (control.interrupt.is_set() or control.skip.is_set()):
            return decode(resume.base_pipe, latents)
        with self.models.use(self.checkpoint, self.vae, self._fitting_loras()) as refiner:
            error = family_error(refiner.info, resume.base_info)
            if error:
                raise RequestError(error)
            if str(refiner.info.path) == str(resume.base_info.path):
                self._warn("The refiner is the checkpoint itself: the steps after the switch ran on it unchanged.")
            self.models.use_embeddings(refiner, f"{resume.prompt}\n{resume.negative}")
            pipe = pipelines.derive(refiner, resume.kind)
            self.used = refiner.info
            return self._continue(pipe, latents, resume, output_type)

    def _fitting_loras(self) -> list[tuple[LoraInfo, float, float]]:
        """The job's LoRAs that fit the refiner. The SDXL refiner has a UNet and text encoder of its own, so SDXL's
        LoRAs have nothing to patch there (A1111 finds none of their layers in it either): it runs without them."""
        info = self.models.resolve(self.checkpoint)
        group = families.checkpoint_family_group(info.family)
        fitting = []
        for lora in self.loras:
            if lora[0].family is None or lora[0].family == group:
                fitting.append(lora)
            else:
                self._warn(f"LoRA {lora[0].name} is for {lora[0].family_label} models: the refiner {info.name} "
                           f"({families.label(info.family)}) made its steps without it.")
        return fitting

    def _continue(self, pipe: Any, latents: torch.Tensor, resume: Resume, output_type: str) -> list[Any]:
        order = int(getattr(resume.scheduler, "order", 1))
        done = resume.switch * order  # loop iterations the base made (second-order samplers make two a step)
        schedule = encode_schedule(pipe, resume.prompt, resume.negative, resume.runs, clip_skip=self.clip_skip,
                                   decimal_is_fraction=True)
        # diffusers starts at step total - int(total * strength): a hair over, so float rounding never drops one.
        strength = min(1.0, (resume.runs - resume.switch + 1e-4) / resume.total)
        init = latents if resume.init is None else resume.init
        noise = torch.zeros_like(latents) if resume.noise is None else resume.noise
        kwargs = {"image": latents.to(pipe.unet.dtype), **resume.mode_kwargs,
                  **pipelines.aesthetic(pipe, **self.aesthetic)}
        pipe.scheduler = resume.scheduler
        with carried_over(resume.scheduler), pipelines.starting_from(pipe, init, noise, resume=latents), \
                attached(pipe, resume.controls) as controlled:
            if controlled is not None:
                controlled.fraction = done / max(1, resume.runs * order)
            return pipe(
                **conditioning_at(schedule, done).pipe_kwargs(latents.shape[0]), strength=strength,
                num_inference_steps=resume.total, guidance_scale=resume.cfg, generator=resume.generators,
                callback_on_step_end=_offset(resume.make_callback(schedule), done),
                callback_on_step_end_tensor_inputs=tensor_inputs(pipe), output_type=output_type, **kwargs).images


def handover(request: GenerationRequest, models: ModelSource, loras: list[tuple[LoraInfo, float, float]],
             warnings: list[str]) -> Handover | None:
    if not request.refiner_checkpoint:
        return None
    return Handover(models=models, checkpoint=resolve(models, request.refiner_checkpoint).name, switch_at=request.refiner_switch_at,
                    vae=request.vae, loras=loras, clip_skip=request.clip_skip, warnings=warnings,
                    aesthetic=pipelines.aesthetic_scores(request))
