"""Latent space: the initial noise of a batch, pictures to latents and back, and the per-step callback.

Noise is drawn per image on the CPU from that image's seed (A1111's default "RNG source: CPU"), so a seed gives
the same picture whatever the batch size or device. VAEs whose config carries `latents_mean`/`latents_std`
(some SDXL VAEs) are normalised with them both ways. The step callback is where progress, previews, interrupt
and skip meet diffusers' loop: a Gradio cancel alone cannot stop a thread, a flag checked each step can.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from modules.core.results import JobControl, StepInfo
from modules.engine import previews
from modules.engine.conditioning import StepConditioning, conditioning_at, is_sdxl
from modules.engine.controlnet.apply import ControlledUNet
from modules.engine.devices import generator_for


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (variation seeds), per image."""
    flat_low, flat_high = low.reshape(low.shape[0], -1), high.reshape(high.shape[0], -1)
    dot = (flat_low / flat_low.norm(dim=1, keepdim=True) * flat_high / flat_high.norm(dim=1, keepdim=True)).sum(1)
    if dot.abs().mean() > 0.9995:
        return low * (1 - strength) + high * strength
    omega = torch.acos(dot.clamp(-1, 1))
    so = torch.sin(omega)
    a = (torch.sin((1.0 - strength) * omega) / so).reshape(-1, *([1] * (low.dim() - 1)))
    b = (torch.sin(strength * omega) / so).reshape(-1, *([1] * (low.dim() - 1)))
    return a * low + b * high


def make_noise(shape: tuple[int, ...], seeds: list[int], subseeds: list[int], strength: float) -> torch.Tensor:
    """Initial latents for a batch, one seed per image, on the CPU in float32."""
    noise = torch.stack([torch.randn(shape, generator=generator_for(s, torch.device("cpu"))) for s in seeds])
    if strength > 0:
        sub = torch.stack([torch.randn(shape, generator=generator_for(s, torch.device("cpu"))) for s in subseeds])
        noise = slerp(strength, noise, sub)
    return noise


def cpu_generators(seeds: list[int], delta: int = 0) -> list[torch.Generator]:
    """One generator per image for the sampler's own noise (ancestral and SDE steps), seeded like its initial
    noise plus `delta`: A1111's "Eta noise seed delta" (ENSD), which changes only the noise added while sampling."""
    return [generator_for(s + delta, torch.device("cpu")) for s in seeds]


def _normalisation(config: Any, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is None or std is None:
        return None
    channels = latents.shape[1]
    return (torch.tensor(mean).view(1, channels, 1, 1).to(latents),
            torch.tensor(std).view(1, channels, 1, 1).to(latents))


def encode(pipe: Any, picture: Image.Image) -> torch.Tensor:
    """One picture -> its scaled latents (1, C, h, w): the distribution's mode, so it is reproducible."""
    vae = pipe.vae
    pixels = pipe.image_processor.preprocess(picture, height=picture.height, width=picture.width)
    latents = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
    config = vae.config
    norm = _normalisation(config, latents)
    if norm is not None:
        mean, std = norm
        return (latents - mean) * config.scaling_factor / std
    return latents * config.scaling_factor


def decode(pipe: Any, latents: torch.Tensor) -> list[Image.Image]:
    """Latents (scaled, as a pipeline's output_type="latent" gives them) -> pictures."""
    vae = pipe.vae
    config = vae.config
    latents = latents.to(device=vae.device, dtype=vae.dtype)
    norm = _normalisation(config, latents)
    if norm is not None:
        mean, std = norm
        latents = latents * std / config.scaling_factor + mean
    else:
        latents = latents / config.scaling_factor
    with torch.no_grad():
        pixels = vae.decode(latents).sample
    return pipe.image_processor.postprocess(pixels, output_type="pil")


def tensor_inputs(pipe: Any) -> list[str]:
    """The tensors the step callback may replace (prompt editing swaps the embeddings mid-run)."""
    return ["latents", "prompt_embeds"] + (["add_text_embeds"] if is_sdxl(pipe) else [])


def step_callback(control: JobControl | None, batch_index: int, batch_count: int, steps: int,
                  factors: previews.Previewer | None, schedule: list[StepConditioning],
                  batch_size: int) -> Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]:
    """diffusers' callback_on_step_end for one batch: ControlNet timing, prompt editing, progress, previews,
    interrupt and skip."""
    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(pipe.unet, ControlledUNet):
            # ControlNet units act by the fraction of the sampling done: per timestep the pipeline runs.
            pipe.unet.fraction = (step + 1) / max(1, getattr(pipe, "num_timesteps", 0) or steps)
        if len(schedule) > 1:  # prompt editing / alternation: the next step may use other embeddings
            kwargs.update(conditioning_at(schedule, step + 1).callback_tensors(batch_size,
                                                                               pipe.do_classifier_free_guidance))
        if control is None:
            return kwargs
        if control.interrupt.is_set() or control.skip.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps and decodes what it has
        if control.on_step is not None:
            preview = None
            done = step + 1
            if factors is not None and control.preview_every and (done % control.preview_every == 0) and done < steps:
                preview = previews.render(factors, kwargs["latents"])
            control.on_step(StepInfo(done, steps, batch_index, batch_count, preview))
        return kwargs

    return callback
