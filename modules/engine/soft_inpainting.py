"""Soft inpainting / differential diffusion: grey mask values repaint in proportion, during sampling and in the
final paste. The settings and their A1111 names live in `modules.core.soft_inpainting`.

During sampling, after each step the latents are blended with the original picture noised to the same level:
the weight of the generated latent is m ** (sigma ** schedule_bias * preservation_strength), A1111's rule, so a
grey pixel follows the original while the noise is high and is set free as it falls; m = 0 stays the original,
m = 1 is the model's alone. The blend keeps the latent vectors' lengths (transition contrast boost), as A1111's
does, so grey areas do not fade to flat colour. The last step is not blended (A1111 neither).

The final paste uses the mask's grey levels instead of A1111's doubled hard overlay; where the picture is
inpainted whole, the change the model made also counts (difference threshold/contrast, mask influence): a
part of a grey area the model hardly changed keeps the original. Mask 0 always gives the original pixel exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.core.soft_inpainting import SoftInpainting
from modules.engine import imaging
from modules.engine.inpainting import Source


def latent_mask(mask: Image.Image, height: int, width: int) -> torch.Tensor:
    """The working mask at latent size with its grey levels kept: (1, 1, h, w) in [0, 1]."""
    small = mask.convert("L").resize((width, height), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0).reshape(1, 1, height, width)


def hard_mask(mask: Image.Image) -> Image.Image:
    """What the pipeline itself (and a 9-channel UNet) sees: every pixel that may change."""
    return mask.convert("L").point(lambda v: 255 if v > 0 else 0)


def _noise_level(scheduler: Any, position: int) -> float | None:
    """The k-diffusion sigma of the latents at `position` in the scheduler's timesteps (None past the end)."""
    if position >= len(scheduler.timesteps):
        return None
    sigmas = getattr(scheduler, "sigmas", None)
    if float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0 and sigmas is not None:
        return float(sigmas[position])  # Euler-style: latents are x0 + sigma * noise
    if getattr(scheduler, "alphas_cumprod", None) is None:
        raise ValueError(f"Soft inpainting cannot follow the noise level of the sampler {type(scheduler).__name__}: "
                         "choose Euler, DPM++ or DDIM, or turn soft inpainting off.")
    alpha = float(scheduler.alphas_cumprod[int(scheduler.timesteps[position])])
    return ((1 - alpha) / alpha) ** 0.5


def _noised(scheduler: Any, init: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    if float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0:
        return init + noise * sigma
    alpha = 1.0 / (1.0 + sigma * sigma)
    return init * alpha ** 0.5 + noise * (1 - alpha) ** 0.5


def blend(original: torch.Tensor, current: torch.Tensor, weight: torch.Tensor, boost: float) -> torch.Tensor:
    """original * (1 - weight) + current * weight, with each vector's length interpolated as a `boost`-norm
    (A1111's transition contrast boost), so a half-way blend keeps the contrast of its two ends."""
    mixed = original * (1 - weight) + current * weight
    length = torch.linalg.vector_norm(mixed.double(), dim=1, keepdim=True) + 1e-5
    wanted = ((torch.linalg.vector_norm(original.double(), dim=1, keepdim=True) ** boost) * (1 - weight)
              + (torch.linalg.vector_norm(current.double(), dim=1, keepdim=True) ** boost) * weight) ** (1 / boost)
    return mixed * (wanted / length).to(mixed.dtype)


def wrap_callback(callback: Callable[..., dict[str, Any]], settings: SoftInpainting, init: torch.Tensor,
                  noise: torch.Tensor, mask: torch.Tensor) -> Callable[..., dict[str, Any]]:
    """The step callback with the soft blend first. `init` holds the pictures' clean latents, `mask` the
    grey latent mask."""

    def soft(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        scheduler = pipe.scheduler
        used = getattr(pipe, "num_timesteps", 0) or len(scheduler.timesteps)
        sigma = _noise_level(scheduler, len(scheduler.timesteps) - used + step + 1)
        if sigma is not None and sigma > 0:
            latents = kwargs["latents"]
            m = mask.to(latents.device, torch.float32)
            weight = m ** (sigma ** settings.schedule_bias * settings.preservation_strength)
            original = _noised(scheduler, init.to(latents.device, torch.float32),
                               noise.to(latents.device, torch.float32), sigma)
            kwargs["latents"] = blend(original, latents.float(), weight,
                                      settings.transition_contrast_boost).to(latents.dtype)
        return callback(pipe, step, timestep, kwargs)

    return soft


def _smooth(values: np.ndarray) -> np.ndarray:
    kernel = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16  # a small Gaussian, applied along each axis
    for axis in (0, 1):
        padded = np.pad(values, [(2, 2) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        values = sum(w * np.take(padded, range(i, i + values.shape[axis]), axis=axis) for i, w in enumerate(kernel))
    return values


def _smootherstep(x: np.ndarray) -> np.ndarray:
    return x * x * x * (x * (6 * x - 15) + 10)


def difference_overlay(mask: Image.Image, working: Image.Image, generated: Image.Image,
                       settings: SoftInpainting) -> Image.Image:
    """The paste mask from how much the model changed each pixel: below the difference threshold (scaled by the
    mask as much as `mask_influence` says) the original shows through. Never above the mask, 255 where it is."""
    m = np.asarray(mask.convert("L"), dtype=np.float64) / 255.0
    before = np.asarray(working.convert("RGB"), dtype=np.float64) / 255.0
    after = np.asarray(generated.convert("RGB").resize(working.size, imaging.LANCZOS), dtype=np.float64) / 255.0
    change = np.linalg.norm(after - before, axis=2) * 4  # RGB distance, scaled to the latent distances A1111 uses
    change = _smooth(change)  # one odd pixel should not decide: A1111 filters its distance map too
    influence = settings.mask_influence
    scalar = 0.5 * (1 - influence) + (1 - m ** (settings.preservation_strength / 2)) * influence
    half = settings.difference_threshold * scalar / (1.00001 - scalar)
    kept = _smootherstep(1 / (1 + (change / np.maximum(half, 1e-6)) ** settings.difference_contrast))
    opacity = np.minimum(1 - kept, m)  # never repaint more than asked
    opacity[m >= 1.0] = 1.0
    opacity[m <= 0.0] = 0.0
    return Image.fromarray(np.round(opacity * 255).astype(np.uint8), "L")


def finish(source: Source, generated: Image.Image, mask: Image.Image, settings: SoftInpainting) -> Image.Image:
    """The output picture: pasted through the difference overlay where the whole picture was inpainted, else
    through the grey overlay `prepare` made."""
    if source.box is None and source.crop is None and source.overlay is not None \
            and source.overlay.size == mask.size == source.working.size:
        overlay = difference_overlay(mask, source.working, generated, settings)
        return imaging.composite(generated, source.original, overlay, None)
    return imaging.composite(generated.crop((0, 0) + source.crop) if source.crop else generated,
                             source.original, source.overlay, source.box)
