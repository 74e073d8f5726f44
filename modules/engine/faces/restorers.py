"""The face restorers of this server: GFPGAN and RestoreFormer files in `models/GFPGAN`, CodeFormer files in
`models/Codeformer` (A1111's folders and names), detected and loaded offline with spandrel.

CodeFormer's network is not in spandrel itself but in `spandrel_extra_arches`, which is not installed by default:
CodeFormer's code is under the S-Lab License 1.0 (non-commercial use only). A CodeFormer file is found either
way, and the message says how to enable it. A restorer asked for without a usable file is an error naming the
folder and the file names expected, never a silent skip (A1111 logs a warning and returns the picture as is).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.devices import DeviceConfig
from modules.engine.faces.detection import FaceDetector
from modules.engine.faces.restoration import FaceRegion, restore_faces
from modules.engine.models.manager import LruCache, release_memory
from modules.engine.models.upscalers import model_dtype

if TYPE_CHECKING:
    from modules.core.settings import SettingsStore

log = logging.getLogger(__name__)

EXTENSIONS = (".pth", ".safetensors")
EXTRA_ARCHES = "spandrel_extra_arches"
# CodeFormer's keys (spandrel_extra_arches' own test), to name a CodeFormer file even without that package.
CODEFORMER_KEYS = ("position_emb", "idx_pred_layer.1.weight", "quantize.embedding.weight")


class FaceRestoreError(RuntimeError):
    """A restorer that cannot run; the message says what to do."""


@dataclass(frozen=True)
class RestorerSpec:
    name: str  # A1111's name (its option face_restoration_model and infotext "Face restoration")
    folder: str  # "gfpgan" or "codeformer": which models folder holds its files
    architecture: str  # spandrel's architecture id
    expected: tuple[str, ...]  # the file names A1111 and the projects' releases use


SPECS = (
    RestorerSpec("CodeFormer", "codeformer", "CodeFormer", ("codeformer-v0.1.0.pth",)),
    RestorerSpec("GFPGAN", "gfpgan", "GFPGAN", ("GFPGANv1.4.pth", "GFPGANv1.3.pth")),
    RestorerSpec("RestoreFormer", "gfpgan", "RestoreFormer", ("RestoreFormer.pth",)),
)
NAMES = tuple(spec.name for spec in SPECS)


@dataclass(frozen=True)
class RestorerFile:
    path: Path
    architecture: str | None  # spandrel's id; None when not a face restorer we know
    error: str | None = None  # why it cannot be used


def _read_state(path: Path, meta: bool) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        if not meta:
            return load_file(str(path))
        with safe_open(str(path), framework="pt") as f:  # shapes only: scanning reads no weights
            return {key: torch.empty(f.get_slice(key).get_shape(), device="meta") for key in f.keys()}
    # weights_only: a .pth is a pickle, and these folders hold files downloaded from anywhere.
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=meta)
    except RuntimeError:
        if not meta:
            raise
        # Files saved before torch 1.6 (the legacy format) cannot be memory-mapped: read them whole.
        return torch.load(str(path), map_location="cpu", weights_only=True)


def extra_arches_installed() -> bool:
    """Registers spandrel_extra_arches' networks (CodeFormer) with spandrel when that package is installed."""
    try:
        import spandrel_extra_arches
    except ImportError:
        return False
    spandrel_extra_arches.install(ignore_duplicates=True)
    return True


def _codeformer_missing(path: Path) -> str:
    return (f"{path.name} is a CodeFormer model, whose network comes with the optional package {EXTRA_ARCHES} "
            f"(not installed: CodeFormer's code is under the S-Lab License 1.0, non-commercial use only). Install it "
            f"with `.venv/bin/pip install {EXTRA_ARCHES}==0.2.0` and restart, or use GFPGAN or RestoreFormer "
            "(models/GFPGAN).")


def detect(path: Path) -> RestorerFile:
    from spandrel import MAIN_REGISTRY, canonicalize_state_dict

    try:
        state = canonicalize_state_dict(_read_state(path, meta=True))
    except Exception as exc:  # a truncated download, a pickle with code in it, not a weights file at all
        return RestorerFile(path, None, f"{path.name} could not be read as weights ({type(exc).__name__})")
    if all(key in state for key in CODEFORMER_KEYS):
        error = None if extra_arches_installed() else _codeformer_missing(path)
        return RestorerFile(path, "CodeFormer", error)
    try:
        for support in MAIN_REGISTRY.architectures("detection"):
            if support.detect(state):
                arch = support.architecture.id
                if arch in {spec.architecture for spec in SPECS}:
                    return RestorerFile(path, arch)
                return RestorerFile(path, arch, f"{path.name} is a {arch} model, not a face restorer")
    except Exception as exc:
        return RestorerFile(path, None, f"{path.name} could not be inspected ({type(exc).__name__}: {exc})")
    return RestorerFile(path, None, f"{path.name} is not a GFPGAN, CodeFormer or RestoreFormer model")


def _to_face_tensor(face: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.from_numpy(np.array(face)).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0
    return x.to(device=device, dtype=dtype)  # the models work in [-1, 1], as they were trained


def run_model(descriptor: Any, face: np.ndarray, weight: float) -> np.ndarray:
    """One 512x512 RGB uint8 face through a spandrel face model, by its own calling convention."""
    model, arch = descriptor.model, descriptor.architecture.id
    x = _to_face_tensor(face, descriptor.device, descriptor.dtype)
    with torch.inference_mode():
        if arch == "GFPGAN":
            # The stored noise, not fresh noise per call: the same picture and seed give the same face.
            out = model(x, return_rgb=False, randomize_noise=False)[0]
        elif arch == "CodeFormer":
            out = model(x, weight=weight)[0]  # w: 0 = the most restoration, 1 = the closest to the input
        else:
            out = model(x)[0]
    out = ((out[0].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return out.permute(1, 2, 0).cpu().numpy()


class FaceRestorers:
    """The restorer files and the loaded models (LRU); safe to use from UI threads and the job worker.

    `options`: the server's settings, read at each use (`face_restoration_unload`: free the model after each
    job's pictures, A1111's option)."""

    def __init__(self, gfpgan_dir: Path | None, codeformer_dir: Path | None, device: DeviceConfig,
                 options: SettingsStore | None = None, detector: FaceDetector | None = None) -> None:
        self.folders = {"gfpgan": gfpgan_dir, "codeformer": codeformer_dir}
        self.device = device
        self.options = options
        self.detector = detector or FaceDetector()
        self.files: list[RestorerFile] = []
        self._known: dict[tuple[str, int, float], RestorerFile] = {}
        self._cache = LruCache(2)
        self._lock = threading.RLock()

    def refresh(self) -> list[RestorerFile]:
        with self._lock:
            found = []
            for folder in dict.fromkeys(p for p in self.folders.values() if p is not None):
                if not folder.is_dir():
                    continue
                for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()):
                    stat = path.stat()
                    key = (str(path), stat.st_size, stat.st_mtime)
                    if key not in self._known:
                        self._known[key] = detect(path)
                        if self._known[key].error:
                            log.warning("face restorer %s", self._known[key].error)
                    found.append(self._known[key])
            self.files = found
            return found

    def spec(self, name: str | None) -> RestorerSpec:
        for spec in SPECS:
            if spec.name.casefold() == str(name or "").strip().casefold():
                return spec
        raise FaceRestoreError(f"Face restorer {name!r} is not known. Choose one of: {', '.join(NAMES)}.")

    def folder(self, spec: RestorerSpec) -> Path | None:
        return self.folders[spec.folder]

    def _candidates(self, spec: RestorerSpec) -> list[RestorerFile]:
        folder = self.folder(spec)
        return [f for f in self.files if f.architecture == spec.architecture
                and folder is not None and f.path.is_relative_to(folder)]

    def _usable(self, spec: RestorerSpec) -> RestorerFile | None:
        """The newest by name (GFPGANv1.4 before v1.3) of the restorer's usable files."""
        usable = sorted((f for f in self._candidates(spec) if f.error is None), key=lambda f: f.path.name.casefold())
        return usable[-1] if usable else None

    def file_for(self, name: str | None) -> RestorerFile:
        """The file a restorer runs from; FaceRestoreError names the folder and the files expected when none."""
        spec = self.spec(name)
        found = self._usable(spec)
        if found is not None:
            return found
        candidates = self._candidates(spec)
        if candidates:
            raise FaceRestoreError(f"Face restoration ({spec.name}): {candidates[0].error}")
        folder = self.folder(spec)
        flag = "--codeformer-models-path" if spec.folder == "codeformer" else "--gfpgan-models-path"
        where = f"the folder {folder} has none" if folder is not None else f"no folder is set ({flag})"
        others = [s.name for s in SPECS if s is not spec and self._usable(s) is not None]
        hint = f" Or choose {' or '.join(others)} (found here) as the face restoration model in Settings." \
            if others else ""
        raise FaceRestoreError(
            f"Face restoration needs a {spec.name} model, and {where}. Put {' or '.join(spec.expected)} there "
            f"(or point {flag} at a folder that holds it): nothing is downloaded.{hint}")

    def check(self, name: str | None) -> str:
        """The canonical name of a restorer that can run; FaceRestoreError says why not."""
        spec = self.spec(name)
        if self._usable(spec) is None:
            self.refresh()  # a file put there since the last scan counts: no restart needed
        self.file_for(spec.name)
        return spec.name

    def available(self) -> list[RestorerSpec]:
        return [spec for spec in SPECS if self._usable(spec) is not None]

    def _model(self, spec: RestorerSpec) -> Any:
        from spandrel import ImageModelDescriptor, ModelLoader, canonicalize_state_dict

        info = self.file_for(spec.name)
        model = self._cache.get(str(info.path))
        if model is not None:
            return model
        if self._cache.make_room():
            release_memory()
        started = time.perf_counter()
        if spec.architecture == "CodeFormer":
            extra_arches_installed()
        try:
            model = ModelLoader(device="cpu").load_from_state_dict(
                canonicalize_state_dict(_read_state(info.path, meta=False)))
        except Exception as exc:
            raise FaceRestoreError(f"Face restorer {spec.name} could not be loaded from {info.path}: {exc}") from exc
        if not isinstance(model, ImageModelDescriptor) or model.architecture.id != spec.architecture:
            raise FaceRestoreError(f"{info.path} is not a {spec.name} model.")
        model.to(self.device.device, model_dtype(model, self.device))
        model.eval()
        log.info("loaded face restorer %s from %s in %.2f s", spec.name, info.path, time.perf_counter() - started)
        self._cache.put(str(info.path), model)
        return model

    def restore(self, image: Image.Image, name: str, visibility: float = 1.0, weight: float = 0.5
                ) -> tuple[Image.Image, list[FaceRegion]]:
        """The picture with its faces restored (blended by visibility; `weight` is CodeFormer's w), and where."""
        if visibility <= 0:
            return image, []
        with self._lock:
            model = self._model(self.spec(name))
            return restore_faces(image, lambda face: run_model(model, face, weight), self.detector, visibility)

    def after_job(self) -> None:
        """Frees the models when the server's `face_restoration_unload` setting asks (A1111's option)."""
        if self.options is not None and self.options.get("face_restoration_unload"):
            self.unload_all()

    def unload_all(self) -> None:
        with self._lock:
            if self._cache.clear():
                release_memory()


def available_restorers(faces: FaceRestorers) -> list[dict[str, str | None]]:
    """A1111's /sdapi/v1/face-restorers answer: {name, cmd_dir} for each restorer whose model file is here."""
    return [{"name": spec.name, "cmd_dir": str(faces.folder(spec)) if faces.folder(spec) else None}
            for spec in faces.available()]


def check_request(request: GenerationRequest, faces: FaceRestorers | None) -> GenerationRequest:
    """At submit time: a job asking for face restoration fails now, naming the missing file, not after its
    pictures are drawn. Returns the request with the restorer's canonical name and a checked weight."""
    if not request.restore_faces:
        return request
    try:
        weight = float(request.codeformer_weight)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f"CodeFormer weight must be a number, got {request.codeformer_weight!r}.") from None
    if not 0.0 <= weight <= 1.0:  # also refuses NaN
        raise RequestError(f"CodeFormer weight must be between 0 and 1, but is {weight:g}.")
    if faces is None:
        raise RequestError("Face restoration is not set up on this server (no face restorer folders).")
    try:
        name = faces.check(request.face_restorer)
    except FaceRestoreError as exc:
        raise RequestError(str(exc)) from None
    return replace(request, face_restorer=name, codeformer_weight=weight)
