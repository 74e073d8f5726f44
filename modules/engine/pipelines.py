"""Which diffusers pipeline runs a request, and the latents it starts from.

Pipelines for img2img and inpaint are derived from the loaded txt2img pipeline with `from_pipe` (the same
UNet, VAE and text encoders, no copy) and kept in `LoadedModel.derived`, so they are dropped with the model.
A 9-channel (inpainting) UNet runs every mode through the inpaint pipeline, as A1111 does: txt2img and
img2img are inpaints of the whole picture (diffusers' txt2img pipeline would fail on it with a tensor error).

Our subclasses replace diffusers' `prepare_latents` so that the starting latents are ours: the VAE encoding
of the prepared picture (with A1111's masked content applied) noised with the per-image seeded noise of
`latents.make_noise`. Seeds, variation seeds and batches then behave as in txt2img, and the same seed
gives the same picture whatever the batch size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import (
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
)
from PIL import Image

TXT2IMG, IMG2IMG, INPAINT = "txt2img", "img2img", "inpaint"
LATENT_NOISE, LATENT_NOTHING = 2, 3  # A1111's masked content indexes that act on latents


class PipelineError(RuntimeError):
    """The loaded model cannot run the request; the message says why."""


class _OwnLatents:
    """Starts from `webui_latents` = (init latents, noise), set by `starting_from` around the call."""

    webui_latents: tuple[torch.Tensor, torch.Tensor] | None = None
    webui_resume: torch.Tensor | None = None  # a refiner continues from another model's half-done latents

    def _own(self, timestep: torch.Tensor, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, ...]:
        if self.webui_latents is None:
            raise PipelineError("call this pipeline inside pipelines.starting_from(...)")
        init, noise = (t.to(device=device, dtype=dtype) for t in self.webui_latents)
        if self.webui_resume is not None:
            # Already noised to this timestep by the earlier steps: adding noise again would be a second dose.
            return init, noise, self.webui_resume.to(device=device, dtype=dtype)
        # A1111 noises the picture at every strength, 1.0 included (diffusers would start from pure noise).
        return init, noise, self.scheduler.add_noise(init, noise, timestep)


class _Img2ImgLatents(_OwnLatents):
    def prepare_latents(self, image: Any, timestep: torch.Tensor, batch_size: int, num_images_per_prompt: int,
                        dtype: torch.dtype, device: Any, generator: Any = None, add_noise: bool = True) -> torch.Tensor:
        init, _, noised = self._own(timestep, dtype, device)
        return noised if add_noise else init


class _InpaintLatents(_OwnLatents):
    def prepare_latents(self, batch_size: int, num_channels_latents: int, height: int, width: int, dtype: torch.dtype,
                        device: Any, generator: Any, latents: Any = None, image: Any = None, timestep: Any = None,
                        is_strength_max: bool = True, add_noise: bool = True, return_noise: bool = False,
                        return_image_latents: bool = False) -> tuple[torch.Tensor, ...]:
        init, noise, noised = self._own(timestep, dtype, device)
        out: tuple[torch.Tensor, ...] = (noised if add_noise else init,)
        if return_noise:
            out += (noise,)
        if return_image_latents:  # a 4-channel UNet: the unmasked area is re-noised from these each step
            out += (init,)
        return out


class WebuiImg2ImgPipeline(_Img2ImgLatents, StableDiffusionImg2ImgPipeline):
    pass


class WebuiInpaintPipeline(_InpaintLatents, StableDiffusionInpaintPipeline):
    pass


class WebuiXLImg2ImgPipeline(_Img2ImgLatents, StableDiffusionXLImg2ImgPipeline):
    pass


class WebuiXLInpaintPipeline(_InpaintLatents, StableDiffusionXLInpaintPipeline):
    pass


CLASSES = {
    (IMG2IMG, False): WebuiImg2ImgPipeline,
    (INPAINT, False): WebuiInpaintPipeline,
    (IMG2IMG, True): WebuiXLImg2ImgPipeline,
    (INPAINT, True): WebuiXLInpaintPipeline,
}


@dataclass(frozen=True)
class Route:
    kind: str  # the pipeline that runs: txt2img, img2img or inpaint
    note: str | None = None  # told to the user when the mode was re-routed


def unet_channels(pipe: Any) -> int:
    return int(pipe.unet.config.in_channels)


def is_xl(pipe: Any) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


def needs_aesthetic_score(pipe: Any) -> bool:
    """The SDXL refiner's UNet is conditioned on an aesthetic score besides the sizes (diffusers' config flag)."""
    return bool(pipe.config.get("requires_aesthetics_score", False))


def aesthetic_scores(request: Any) -> dict[str, float]:
    """A1111's "SDXL high/low aesthetic score" options, as the request carries them, by diffusers' names."""
    return {"score": float(request.aesthetic_score), "negative": float(request.negative_aesthetic_score)}


def aesthetic(pipe: Any, score: float = 6.0, negative: float = 2.5) -> dict[str, float]:
    """Keyword arguments for an SDXL img2img/inpaint call: the scores where the UNet takes them, else nothing.
    A1111 gives the prompt the high score and the negative prompt the low one, as diffusers does."""
    if not needs_aesthetic_score(pipe):
        return {}
    return {"aesthetic_score": score, "negative_aesthetic_score": negative}


def route(mode: str, pipe: Any, model_name: str = "this checkpoint") -> Route:
    """The pipeline kind for a request mode on this model (9-channel UNets always inpaint)."""
    if mode == TXT2IMG and needs_aesthetic_score(pipe):
        raise PipelineError(f"{model_name} is an SDXL refiner: it refines pictures and cannot make one from noise. "
                            "Choose it as the Refiner of an SDXL checkpoint, or use it in img2img.")
    channels = unet_channels(pipe)
    if channels == 4:
        return Route(mode)
    if channels != 9:
        raise PipelineError(f"{model_name} has a UNet with {channels} input channels; only 4 (ordinary) and 9 "
                            "(inpainting) are supported.")
    if mode == TXT2IMG:
        return Route(INPAINT, f"{model_name} is an inpainting model: txt2img ran as an inpaint of a blank canvas. "
                              "For ordinary pictures choose a checkpoint that is not an inpainting one.")
    if mode == IMG2IMG:
        return Route(INPAINT, f"{model_name} is an inpainting model: img2img ran as an inpaint of the whole picture.")
    return Route(INPAINT)


def derive(loaded: Any, kind: str) -> Any:
    """The pipeline of `kind` sharing the loaded model's modules, made once per loaded model."""
    base = loaded.pipe
    if kind == TXT2IMG:
        return base
    cls = CLASSES[(kind, is_xl(base))]
    pipe = loaded.derived.get(cls.__name__)
    if pipe is None:
        # dtype= always: without it from_pipe converts a bf16 pipeline's shared modules to fp32 in place.
        # Its `.to(dtype)` then warns about an empty list of float32 modules: noise, kept out of the log.
        noisy = logging.getLogger("diffusers.models.modeling_utils")
        level = noisy.level
        noisy.setLevel(logging.ERROR)
        try:
            pipe = cls.from_pipe(base, dtype=base.dtype)
        finally:
            noisy.setLevel(level)
        pipe.set_progress_bar_config(disable=True)
        loaded.derived[cls.__name__] = pipe
    pipe.vae = base.vae  # this job's VAE (the manager lends it on the base pipeline)
    return pipe


@contextmanager
def starting_from(pipe: Any, init: torch.Tensor, noise: torch.Tensor, resume: torch.Tensor | None = None
                  ) -> Iterator[Any]:
    """`init` and `noise` are the picture's latents and its seed's noise; `resume`, when given, is where the
    sampling already is (a refiner taking over): the loop starts from it instead of the noised picture."""
    pipe.webui_latents, pipe.webui_resume = (init, noise), resume
    try:
        yield pipe
    finally:
        pipe.webui_latents, pipe.webui_resume = None, None


@torch.no_grad()
def latent_mask(mask: Image.Image, height: int, width: int) -> torch.Tensor:
    """The working mask at latent size, rounded to 0/1 (A1111's mask_round): (1, 1, h, w), 1 = repaint."""
    small = mask.convert("L").resize((width, height), Image.Resampling.BILINEAR)
    values = torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).float() / 255.0
    return values.round().reshape(1, 1, height, width)


def masked_content(init: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor | None, fill: int) -> torch.Tensor:
    """A1111's latent masked content: "latent noise" puts the seed's noise, "latent nothing" zeros, where the
    mask is. ("fill" works on pixels before encoding; "original" leaves the picture as it is.)"""
    if mask is None or fill not in (LATENT_NOISE, LATENT_NOTHING):
        return init
    mask = mask.to(init)
    keep = init * (1 - mask)
    return keep + noise.to(init) * mask if fill == LATENT_NOISE else keep


def masked_picture(picture: Image.Image, mask: Image.Image) -> Image.Image:
    """What a 9-channel UNet is shown of the picture: grey (zero) where the mask (rounded) is."""
    binary = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    out = picture.convert("RGB").copy()
    out.paste((127, 127, 127), mask=binary)
    return out
