"""Upscalers by A1111's names: None, Lanczos, Nearest, the six latent modes, and model files (via spandrel).

Pixel upscalers take a picture to a size; latent modes are only for the hires fix (they resize latents, see
`latent_upscale`). A model upscaler runs at its own factor (applied up to three times, as A1111 does) and the
result is resized to the exact size asked with Lanczos. Models run tiled: each tile is read with `overlap`
pixels of context on every side and only its own part is kept, so the result matches an untiled run wherever
the model's reach is within the overlap, at a fraction of the memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from modules.core.settings import SettingsStore
    from modules.engine.models.upscalers import UpscalerModels

log = logging.getLogger(__name__)

NONE, LANCZOS, NEAREST = "None", "Lanczos", "Nearest"
# name -> (torch interpolate mode, antialias), A1111's table.
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
DEFAULT_TILE, DEFAULT_OVERLAP = 192, 8  # A1111's "ESRGAN_tile" and "ESRGAN_tile_overlap" defaults
MAX_MODEL_PASSES = 3


class UpscalerError(LookupError):
    """An unknown upscaler name; the message lists the choices."""


@dataclass(frozen=True)
class Upscaler:
    name: str
    kind: str  # "none", "pil", "model"
    scale: float = 4.0  # the factor A1111's API reports (a model's own factor once detected)
    path: Path | None = None
    architecture: str | None = None


BUILT_IN = (Upscaler(NONE, "none"), Upscaler(LANCZOS, "pil"), Upscaler(NEAREST, "pil"))


def is_latent(name: str | None) -> bool:
    return name in LATENT_MODES


def latent_upscale(latents: torch.Tensor, mode: str, height: int, width: int) -> torch.Tensor:
    """Latents (B, C, h, w) resized to (height, width) latent pixels with one of LATENT_MODES."""
    how, antialias = LATENT_MODES[mode]
    out = torch.nn.functional.interpolate(latents.float(), size=(height, width), mode=how, antialias=antialias)
    return out.to(latents.dtype)


def _guess_scale(name: str) -> float:
    import re

    match = re.search(r"(\d)[xX]|[xX](\d)", name)
    return float(match.group(1) or match.group(2)) if match else 4.0


# ---------------------------------------------------------------------------------------------- tiling
def _to_tensor(image: Image.Image, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device=device, dtype=dtype)


def _to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> (H, W, C) uint8, rounded the same way for tiles and whole pictures."""
    return (tensor[0].float().clamp(0, 1).permute(1, 2, 0) * 255.0).round().to(torch.uint8).cpu().numpy()


def run_tiled(model: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, scale: int, tile: int,
              overlap: int, on_tile: Callable[[int, int], None] | None = None) -> np.ndarray:
    """model over image (1, C, H, W) in tiles of tile x tile pixels with `overlap` pixels of context.

    Returns the (H*scale, W*scale, C) uint8 result, written tile by tile, so the float output of the whole
    picture is never held at once. tile <= 0 runs the whole picture in one go.
    """
    _, channels, height, width = image.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return _to_uint8(model(image))
    out = np.zeros((height * scale, width * scale, channels), dtype=np.uint8)
    rows, cols = range(0, height, tile), range(0, width, tile)
    total, done = len(rows) * len(cols), 0
    for y in rows:
        for x in cols:
            y1, x1 = min(y + tile, height), min(x + tile, width)
            top, left = max(0, y - overlap), max(0, x - overlap)
            bottom, right = min(height, y1 + overlap), min(width, x1 + overlap)
            result = model(image[:, :, top:bottom, left:right])
            if result.shape[-2:] != ((bottom - top) * scale, (right - left) * scale):
                raise RuntimeError(f"the model returned {tuple(result.shape[-2:])} for a {bottom - top}x"
                                   f"{right - left} tile; expected {scale}x that")
            keep = result[:, :, (y - top) * scale:(y1 - top) * scale, (x - left) * scale:(x1 - left) * scale]
            out[y * scale:y1 * scale, x * scale:x1 * scale] = _to_uint8(keep)
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return out


def upscale_with_model(descriptor: Any, image: Image.Image, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                       on_tile: Callable[[int, int], None] | None = None) -> Image.Image:
    """One pass of a spandrel model (its own factor), tiled, on the model's device and dtype."""
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    pixels = _to_tensor(image, descriptor.device, descriptor.dtype)
    with torch.inference_mode():
        array = run_tiled(descriptor, pixels, descriptor.scale, tile, overlap, on_tile)
    out = Image.fromarray(array[:, :, :3] if array.shape[2] >= 3 else array[:, :, 0], "RGB" if array.shape[2] >= 3 else "L")
    if alpha is not None:  # the models see RGB: the transparency is scaled on its own, with Lanczos
        out.putalpha(alpha.resize(out.size, Image.Resampling.LANCZOS))
    return out


# ---------------------------------------------------------------------------------------------- registry
class UpscalerRegistry:
    """The upscalers of this server. `models`: the model files (None: built-in upscalers only); `options`: the
    settings, for the tile size, read at each use so a settings change applies."""

    def __init__(self, models: UpscalerModels | None = None, options: SettingsStore | None = None) -> None:
        self.models = models
        self.options = options

    def refresh(self) -> None:
        if self.models is not None:
            self.models.refresh()

    def _files(self) -> list[Any]:
        return list(self.models.files) if self.models is not None else []

    def all(self) -> list[Upscaler]:
        """Usable pixel upscalers in A1111's order: None, Lanczos, Nearest, then the model files by name."""
        models = [Upscaler(f.name, "model", _guess_scale(f.name), f.path, f.architecture)
                  for f in self._files() if f.usable]
        return list(BUILT_IN) + sorted(models, key=lambda u: u.name.casefold())

    def unsupported(self) -> list[tuple[str, str]]:
        """(file, reason) of model files that cannot be used."""
        return [(str(f.path), f.error) for f in self._files() if not f.usable]

    def names(self) -> list[str]:
        return [u.name for u in self.all()]

    def hires_names(self) -> list[str]:
        """The hires fix's choices: the latent modes first (A1111's default is "Latent"), then the others."""
        return list(LATENT_MODES) + self.names()

    def find(self, name: str | None, latent_ok: bool = False) -> str:
        """The canonical name for `name` (case-insensitive; None and "" mean "None")."""
        query = (name or NONE).strip()
        choices = self.hires_names() if latent_ok else self.names()
        for choice in choices:
            if choice.casefold() == query.casefold():
                return choice
        bad = [Path(p).stem for p, _ in self.unsupported()]
        hint = (f" The file {query} was found but cannot be used: see the list of unsupported upscalers."
                if query in bad else "")
        raise UpscalerError(f"Upscaler {name!r} not found.{hint} Choose one of: {', '.join(choices)}.")

    def tile_settings(self) -> tuple[int, int]:
        get = self.options.get if self.options is not None else (lambda key: None)
        tile = get("ESRGAN_tile")
        overlap = get("ESRGAN_tile_overlap")
        return (DEFAULT_TILE if tile is None else int(tile)), (DEFAULT_OVERLAP if overlap is None else int(overlap))

    def upscale_to(self, image: Image.Image, name: str, width: int, height: int,
                   on_tile: Callable[[int, int], None] | None = None) -> Image.Image:
        """The picture at exactly width x height through upscaler `name` (stretched if the ratio differs)."""
        name = self.find(name)
        if name == NEAREST:
            return image.resize((width, height), Image.Resampling.NEAREST)
        if name in (NONE, LANCZOS) or (image.width >= width and image.height >= height):
            return image.resize((width, height), Image.Resampling.LANCZOS) if image.size != (width, height) else image
        info = next(f for f in self._files() if f.usable and f.name == name)
        descriptor = self.models.get(info)
        tile, overlap = self.tile_settings()
        for _ in range(MAX_MODEL_PASSES):
            if image.width >= width and image.height >= height:
                break
            before = image.size
            image = upscale_with_model(descriptor, image, tile, overlap, on_tile)
            if image.size == before:  # a 1x (restoration) model: one pass is enough
                break
        return image.resize((width, height), Image.Resampling.LANCZOS) if image.size != (width, height) else image

    def upscale(self, image: Image.Image, name: str, scale: float,
                on_tile: Callable[[int, int], None] | None = None) -> Image.Image:
        """The picture times `scale` (each side rounded down, at least 1 pixel)."""
        width, height = max(1, int(image.width * scale)), max(1, int(image.height * scale))
        return self.upscale_to(image, name, width, height, on_tile)
