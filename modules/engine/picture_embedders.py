"""What turns a picture into a vector for "find similar pictures": a CLIP vision encoder from
models/clip_vision when there is one (loaded and run by image_embeddings.py, which IP-Adapter uses too), else the
built-in perceptual descriptor (perceptual.py), which needs no model.

Every embedder names its `kind`: vectors of different kinds are never compared. A CLIP kind carries the
encoder's name, file size and modification time, so replacing the model makes new vectors, never a mix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from modules.engine import image_embeddings, perceptual
from modules.engine.devices import DeviceConfig
from modules.engine.vector_index import to_bytes, unit

log = logging.getLogger(__name__)

__all__ = ["ClipVisionEmbedder", "ImageEmbedder", "PerceptualEmbedder", "choose_embedder"]


class ImageEmbedder(Protocol):
    """What the history's similarity search needs: a kind, a size, and a picture -> unit float32 bytes."""

    kind: str
    dimensions: int

    def embed(self, image: Image.Image) -> bytes: ...


@dataclass(frozen=True)
class PerceptualEmbedder:
    """The built-in descriptor: no model, no download, a few milliseconds per picture."""

    kind: str = perceptual.KIND
    dimensions: int = perceptual.DIMENSIONS

    def embed(self, image: Image.Image) -> bytes:
        return to_bytes(perceptual.describe(image))


class ClipVisionEmbedder:
    """A CLIP vision encoder's image embedding (its projection) as a unit vector; the encoder (loaded on first
    use) is image_embeddings'."""

    def __init__(self, info: image_embeddings.ClipVisionInfo, device: DeviceConfig | None = None) -> None:
        if info.error or not info.projection_dim:
            raise ValueError(info.error or "no projection: not usable for image embeddings")
        stat = info.path.stat() if info.path.is_file() else (info.path / "config.json").stat()
        self.kind = f"clip:{info.name}:{stat.st_size}:{stat.st_mtime_ns}"
        self.dimensions = int(info.projection_dim)
        self.encoder = image_embeddings.ClipVisionEncoder(info, device.device if device is not None else None)

    def embed(self, image: Image.Image) -> bytes:
        embedding = self.encoder.image_embeds([image])[0].float().cpu().numpy()
        return to_bytes(unit(embedding))


def choose_embedder(folder: Path | None, device: DeviceConfig | None = None) -> tuple[ImageEmbedder, str]:
    """The first usable CLIP vision encoder in `folder` (by name), else the perceptual descriptor, with a
    sentence for the log saying which and why. Only headers are read here: the model loads on first use."""
    for info in image_embeddings.scan(folder):
        try:
            return ClipVisionEmbedder(info, device), f"CLIP vision encoder {info.name}"
        except (OSError, ValueError) as exc:
            log.warning("find similar: not using %s: %s", info.path, exc)
    where = f"no usable CLIP vision encoder in {folder}" if folder is not None else "no models/clip_vision folder"
    return PerceptualEmbedder(), f"the built-in perceptual descriptor ({where})"
