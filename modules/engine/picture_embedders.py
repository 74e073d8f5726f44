"""What turns a picture into a vector for "find similar pictures": a CLIP vision encoder from
models/clip_vision when there is one (loaded with image_embeddings.py, as IP-Adapter loads it), else the
built-in perceptual descriptor (perceptual.py), which needs no model.

Every embedder names its `kind`: vectors of different kinds are never compared. A CLIP kind carries the
encoder's name, file size and modification time, so replacing the model makes new vectors, never a mix.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
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
    """A CLIP vision encoder's image embedding (its projection), loaded on first use and kept."""

    def __init__(self, info: image_embeddings.ClipVisionInfo, device: DeviceConfig | None = None) -> None:
        if info.error or not info.projection_dim:
            raise ValueError(info.error or "no projection: not usable for image embeddings")
        self.info = info
        self.device = device
        stat = info.path.stat() if info.path.is_file() else (info.path / "config.json").stat()
        self.kind = f"clip:{info.name}:{stat.st_size}:{stat.st_mtime_ns}"
        self.dimensions = int(info.projection_dim)
        self._model: Any = None
        self._lock = threading.Lock()

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                device = self.device.device if self.device is not None else torch.device("cpu")
                # Half precision on a GPU; float32 on a CPU (fp16 is no faster there).
                dtype = torch.float16 if device.type == "cuda" else torch.float32
                self._model = image_embeddings.load(self.info, dtype, device)
                log.info("find similar: CLIP vision encoder %s loaded (%d dimensions)", self.info.name,
                         self.dimensions)
            return self._model

    def embed(self, image: Image.Image) -> bytes:
        embedding = image_embeddings.encode(self.model(), [image])[0].float().cpu().numpy()
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
