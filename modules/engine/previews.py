"""Live previews: latents to a rough RGB picture by a fixed linear map, no VAE and no extra weights, or by a
tiny decoder (TAESD, `engine/taesd.py`) when its file is in models/VAE-approx.

The SD 1.x/2.x and SDXL factors are the widely used least-squares fits of RGB to the four latent
channels. Other models (our demo family) ship their own fit as `latent_rgb.json` in the model folder.
A1111's "Live preview method" names the two: "Approx cheap" (the linear map) and "TAESD".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules.engine.models import families

APPROX_CHEAP, TAESD = "Approx cheap", "TAESD"
METHODS = (APPROX_CHEAP, TAESD)  # A1111's show_progress_type values this server has

# rows: latent channels; columns: R, G, B
SD1_FACTORS = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
SDXL_FACTORS = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188))
SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def factors_for(family: str | None, model_dir: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if model_dir is not None and (model_dir / "latent_rgb.json").is_file():
        data = json.loads((model_dir / "latent_rgb.json").read_text(encoding="utf-8"))
        return torch.tensor(data["factors"]), torch.tensor(data.get("bias", [0.0, 0.0, 0.0]))
    if families.latent_family(family) == "sdxl":  # the SDXL refiner shares SDXL's latent space
        return torch.tensor(SDXL_FACTORS), torch.tensor(SDXL_BIAS)
    return torch.tensor(SD1_FACTORS), torch.zeros(3)


def latents_to_image(latents: torch.Tensor, factors: torch.Tensor, bias: torch.Tensor) -> Image.Image:
    """First picture of a latent batch as a small RGB preview (one pixel per latent)."""
    lat = latents[0].detach().float().cpu()
    if lat.shape[0] != factors.shape[0]:
        lat = lat[: factors.shape[0]]  # inpainting UNets see extra channels; the first ones are the latents
    rgb = torch.einsum("chw,cr->hwr", lat, factors) + bias
    rgb = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return Image.fromarray(rgb, "RGB")


def fit_factors(latents: torch.Tensor, images: torch.Tensor) -> tuple[list[list[float]], list[float]]:
    """Least-squares latent->RGB map for a new VAE. latents (N,C,h,w); images (N,3,h,w) in [-1, 1] at latent size."""
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).float()
    y = images.permute(0, 2, 3, 1).reshape(-1, 3).float()
    x1 = torch.cat([x, torch.ones(x.shape[0], 1)], dim=1)
    solution = torch.linalg.lstsq(x1, y).solution
    return solution[:-1].tolist(), solution[-1].tolist()


@dataclass(frozen=True)
class TinyPreview:
    """A preview drawn by a tiny decoder: the first picture of the batch at full size."""

    decoder: Any  # a diffusers AutoencoderTiny

    def image(self, latents: torch.Tensor) -> Image.Image:
        from modules.engine.taesd import decode_pixels

        channels = self.decoder.config.latent_channels
        pixels = decode_pixels(self.decoder, latents[:1, :channels])[0].float().cpu()
        rgb = ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(rgb, "RGB")


Previewer = tuple[torch.Tensor, torch.Tensor] | TinyPreview  # (factors, bias) of the linear map, or a tiny decoder


def render(previewer: Previewer, latents: torch.Tensor) -> Image.Image | None:
    """A preview of the batch's first picture; None for latents that are not (N, C, h, w) pictures."""
    if latents.dim() != 4:
        return None  # packed latents (transformer families) need their own unpacking first
    if isinstance(previewer, TinyPreview):
        return previewer.image(latents)
    return latents_to_image(latents, *previewer)
