"""Upscaler model files (models/ESRGAN, RealESRGAN, SwinIR, DAT): scanned, detected and loaded with spandrel.

spandrel tells the architecture from the weights alone, so any file those folders hold in A1111's layout
works without a config. Scanning only detects (no network, no model built); a file spandrel does not
recognise is kept in the list with the reason, so the user sees why it is missing from the dropdowns.
Loaded models are kept in a small LRU cache, on the device and dtype the app runs on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine.devices import DeviceConfig
from modules.engine.models.manager import LruCache, release_memory

log = logging.getLogger(__name__)

FOLDERS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT")
EXTENSIONS = (".pth", ".safetensors")


class UpscalerModelError(RuntimeError):
    """An upscaler file that cannot be used; the message says why."""


@dataclass(frozen=True)
class UpscalerFile:
    name: str  # what A1111 lists: the file name without its extension
    path: Path
    folder: str  # which of FOLDERS it was found in
    architecture: str | None = None
    error: str | None = None  # why it cannot be used; None when spandrel recognised it

    @property
    def usable(self) -> bool:
        return self.error is None


def _state_dict_for_detection(path: Path) -> dict[str, Any]:
    """The file's tensors, cheaply: safetensors as shapes only (meta tensors), .pth memory-mapped."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        names = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
                 "I64": torch.int64, "I32": torch.int32}
        out: dict[str, Any] = {}
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                piece = f.get_slice(key)
                out[key] = torch.empty(piece.get_shape(), dtype=names.get(piece.get_dtype(), torch.float32),
                                       device="meta")
        return out
    # weights_only: a .pth is a pickle, and these folders hold files downloaded from anywhere.
    return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)


def detect(path: Path) -> tuple[str | None, str | None]:
    """(architecture name, None) when spandrel recognises the file, else (None, the reason)."""
    from spandrel import MAIN_REGISTRY, canonicalize_state_dict

    try:
        state = _state_dict_for_detection(path)
    except Exception as exc:  # a truncated download, a pickle with code in it, not a weights file at all
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"could not be read as weights ({type(exc).__name__}: {first[:200]})"
    if not isinstance(state, dict) or not state:
        return None, "holds no weights (not a state dict)"
    try:
        state = canonicalize_state_dict(state)
        for support in MAIN_REGISTRY.architectures("detection"):
            if support.detect(state):
                return support.architecture.name, None
    except Exception as exc:
        return None, f"could not be inspected ({type(exc).__name__}: {exc})"
    return None, ("is not an architecture spandrel knows (ESRGAN, Real-ESRGAN, SwinIR, DAT, HAT, ...): "
                  "it may be a different kind of model")


def scan(root: Path | None, known: dict[tuple[str, int, float], UpscalerFile] | None = None) -> list[UpscalerFile]:
    """Every .pth/.safetensors file under root/<FOLDERS>, detected (results reused while the file is unchanged)."""
    if root is None:
        return []
    known = {} if known is None else known
    found: list[UpscalerFile] = []
    seen: set[str] = set()
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()):
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime)
            entry = known.get(key)
            if entry is None:
                architecture, error = detect(path)
                name = path.stem if path.stem not in seen else f"{path.stem} ({folder})"
                entry = UpscalerFile(name=name, path=path, folder=folder, architecture=architecture, error=error)
                known[key] = entry
                if error:
                    log.warning("upscaler %s %s", path, error)
            seen.add(entry.name)
            found.append(entry)
    return found


def model_dtype(descriptor: Any, device: DeviceConfig) -> torch.dtype:
    """The app's dtype when the architecture supports it, else float32."""
    if device.dtype == torch.bfloat16 and descriptor.supports_bfloat16:
        return torch.bfloat16
    if device.dtype == torch.float16 and descriptor.supports_half:
        return torch.float16
    return torch.float32


def load(info: UpscalerFile, device: DeviceConfig) -> Any:
    """A spandrel ImageModelDescriptor on the device, in eval mode."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    if info.error:
        raise UpscalerModelError(f"Upscaler {info.name} cannot be used: the file {info.error}.")
    try:
        descriptor = ModelLoader(device="cpu").load_from_file(info.path)
    except UnsupportedModelError:
        raise UpscalerModelError(f"Upscaler {info.name}: spandrel does not recognise {info.path.name}.") from None
    except Exception as exc:
        raise UpscalerModelError(f"Upscaler {info.name} could not be loaded from {info.path}: {exc}") from exc
    if not isinstance(descriptor, ImageModelDescriptor):
        raise UpscalerModelError(f"Upscaler {info.name} is a {descriptor.purpose} model (it needs a mask), "
                                 "not an upscaler.")
    descriptor.to(device.device, model_dtype(descriptor, device))
    descriptor.eval()
    return descriptor


class UpscalerModels:
    """The upscaler files and the loaded models (LRU), guarded for use from UI threads and the job worker."""

    def __init__(self, root: Path | None, device: DeviceConfig, models_in_ram: int = 2) -> None:
        self.root = root
        self.device = device
        self.files: list[UpscalerFile] = []
        self._known: dict[tuple[str, int, float], UpscalerFile] = {}
        self._cache = LruCache(models_in_ram)
        self._lock = threading.RLock()

    def refresh(self) -> list[UpscalerFile]:
        with self._lock:
            self.files = scan(self.root, self._known)
            return self.files

    def get(self, info: UpscalerFile) -> Any:
        with self._lock:
            key = str(info.path)
            model = self._cache.get(key)
            if model is None:
                if self._cache.make_room():
                    release_memory()
                started = time.perf_counter()
                model = load(info, self.device)
                log.info("loaded upscaler %s (%s, %dx) in %.2f s", info.name, model.architecture.name, model.scale,
                         time.perf_counter() - started)
                self._cache.put(key, model)
            return model

    def loaded_names(self) -> list[str]:
        return self._cache.keys()

    def unload_all(self) -> None:
        with self._lock:
            self._cache.clear()
            release_memory()
