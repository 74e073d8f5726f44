"""Find checkpoints and VAEs on disk, tell their family, and compute A1111's hashes.

A scan reads only file headers (safetensors) or memory-maps pickles; what it learns is cached by
path + size + mtime in a JSON file, so a rescan of hundreds of checkpoints neither re-reads nor re-hashes.
Full SHA-256 hashes (A1111's "Model hash" is its first 10 hex digits) are computed lazily: when a model is
first loaded, or by `hash_missing()` in a background thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modules.engine.models import families, flow_families

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".gguf")  # .gguf: quantised Flux transformers
VAE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class CheckpointInfo:
    name: str  # path relative to the checkpoints folder, with extension (A1111's `name`)
    path: Path
    kind: str  # "single_file" | "diffusers" | "gguf" (a quantised transformer: engine/models/gguf_files.py)
    family: str | None = None  # "sd1", "sd2", "sd2-v", "sdxl", "sdxl-refiner", "demo"...; None when unsupported
    family_label: str = ""
    inpainting: bool = False
    prediction: str = "epsilon"
    error: str | None = None  # why it cannot be used
    sha256: str | None = None
    companion: Path | None = None  # a GGUF transformer's text encoders and VAE: a diffusers folder
    quant: str | None = None  # how quantised weights are stored: GGUF "Q8_0", "Q4_K"...; bitsandbytes "nf4", "int8"
    # A Flux transformer file's text encoders and VAE (engine/models/flux_single.py), chosen when a job lends it.
    parts: tuple[Any, ...] = ()  # ModuleInfo of the CLIP, T5 and VAE used
    config_folders: tuple[Path, ...] = ()  # Flux diffusers folders whose configs and tokenizers may serve its parts

    @property
    def flux_file(self) -> bool:
        """A flow transformer single file (Flux, SD 3.x, Chroma...): its parts may come from models/text_encoder and
        models/VAE. The name is older than the other families' files."""
        return self.transformer_file

    @property
    def transformer_file(self) -> bool:
        """A flow transformer single file (Flux, SD 3.x, Chroma...), its text encoders and VAE maybe apart."""
        return self.kind == "single_file" and self.prediction == "flow"

    @property
    def takes_parts(self) -> bool:
        """Its text encoders and VAE are separate files (a transformer file, safetensors or GGUF)."""
        return self.transformer_file or self.kind == "gguf"

    @property
    def model_name(self) -> str:
        """A1111's `model_name`, which the infotext's `Model:` field carries."""
        return os.path.splitext(self.name.replace("/", "_").replace("\\", "_"))[0]

    @property
    def short_hash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        """What A1111's dropdown and `sd_model_checkpoint` use: "name [shorthash]"."""
        return f"{self.name} [{self.short_hash}]" if self.short_hash else self.name

    @property
    def usable(self) -> bool:
        return self.error is None

    def matches(self, query: str) -> bool:
        q = query.strip()
        candidates = {self.title, self.name, self.model_name, os.path.splitext(self.name)[0], self.path.name}
        if q in candidates:
            return True
        return bool(self.sha256) and len(q) >= 8 and self.sha256.startswith(q.lower())


def _diffusers_family(folder: Path) -> dict[str, Any]:
    """Family of a diffusers folder from its configs (no weights are read)."""
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    if flow_families.is_flow_index(index):  # Flux, SD 3.x: a transformer, not a UNet
        return flow_families.describe_folder(folder, index)
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    sched_file = folder / "scheduler" / "scheduler_config.json"
    sched = json.loads(sched_file.read_text(encoding="utf-8")) if sched_file.exists() else {}
    prediction = sched.get("prediction_type", "epsilon")
    inpainting = unet.get("in_channels", 4) == 9
    cls = index.get("_class_name", "")
    width = unet.get("cross_attention_dim")
    if _is_sdxl_refiner(index, unet):
        family = "sdxl-refiner"
    elif "XL" in cls or unet.get("addition_embed_type") == "text_time":
        family = "sdxl"
    elif width == 768:
        family = "sd1"
    elif width == 1024:
        family = "sd2-v" if prediction == "v_prediction" else "sd2"
    elif cls.startswith("StableDiffusion"):
        # Small SD-architecture models get their own family, so LoRAs and ControlNets of other families
        # are refused for them. Ours (the demo family) carry the training record written by our trainer.
        family = "demo" if (folder / "training.json").is_file() else families.custom(width)
    else:
        raise ValueError(f"pipeline {cls or 'unknown'} is not supported; only Stable Diffusion 1.x/2.x/XL")
    label = families.label(family) + (" inpainting" if inpainting else "")
    return {"family": family, "family_label": label, "inpainting": inpainting, "prediction": prediction}


def _is_sdxl_refiner(index: dict[str, Any], unet: dict[str, Any]) -> bool:
    """The SDXL refiner's folder: aesthetic-score conditioning, or an SDXL UNet fed by OpenCLIP-G alone (no first
    text encoder: diffusers writes `text_encoder: [null, null]`)."""
    if unet.get("addition_embed_type") != "text_time":
        return False
    no_first_encoder = (index.get("text_encoder") or [None])[0] is None and "text_encoder_2" in index
    return bool(index.get("requires_aesthetics_score")) or no_first_encoder


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_folder(folder: Path) -> str:
    """A stable hash of a diffusers folder: its files' relative names and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """path -> (size, mtime, facts) in a JSON file; entries are valid only while size and mtime match."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}
        try:
            self._data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("model cache %s is unreadable (%s); it will be rebuilt", file, exc)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, float]:
        if path.is_dir():
            files = [p.stat() for p in path.rglob("*") if p.is_file()]
            return sum(s.st_size for s in files), max((s.st_mtime for s in files), default=0.0)
        st = path.stat()
        return st.st_size, st.st_mtime

    def get(self, path: Path) -> dict[str, Any] | None:
        entry = self._data.get(str(path))
        if entry and (entry.get("size"), entry.get("mtime")) == self._stamp(path):
            return entry.get("facts", {})
        return None

    def put(self, path: Path, facts: dict[str, Any]) -> None:
        size, mtime = self._stamp(path)
        with self._lock:
            old = self._data.get(str(path), {})
            merged = {**old.get("facts", {}), **facts} if (old.get("size"), old.get("mtime")) == (size, mtime) else facts
            self._data[str(path)] = {"size": size, "mtime": mtime, "facts": merged}
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(self.file.name + ".tmp")
            tmp.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
            os.replace(tmp, self.file)


def _describe_file(path: Path) -> dict[str, Any]:
    from modules.engine.models import bnb_files
    from modules.engine.models.single_file import CheckpointError, detect_family, read_state_dict

    quant = bnb_files.file_quantization(path)
    if quant:  # whatever its architecture, no diffusers loader reads it
        return {"bnb": quant, "error": bnb_files.refusal(quant, "single_file", "cpu")}
    if path.suffix.lower() == ".safetensors":
        from modules.engine.models import companion_single, transformer_files

        if (companion := companion_single.registry_facts(path)) is not None:  # Z-Image, Qwen-Image transformers
            return companion
        family = transformer_files.family_of(path)
        if family is not None:  # Flux.1, SD 3.x, Chroma transformers in their release layout
            return _describe_flux_file(path) if family == "flux" else _describe_transformer_file(path, family)
    try:
        # safetensors are memory-mapped: detection touches a few tensors, not the whole file.
        family = detect_family(read_state_dict(path))
    except CheckpointError as exc:
        return {"error": str(exc)}
    return {"family": family.name, "family_label": family.label, "inpainting": family.inpainting,
            "prediction": family.prediction}


def _describe_flux_file(path: Path) -> dict[str, Any]:
    from modules.engine.models import flux_single

    try:
        facts = flux_single.describe(path)
    except (flux_single.FluxFileError, OSError) as exc:
        return {"error": f"this looks like a Flux transformer, but {exc}"}
    family = "demo-flux" if facts.demo else "flux"
    label = f"{families.label(family)}: {facts.label}" if facts.demo else facts.label
    return {"family": family, "family_label": label, "inpainting": False, "prediction": "flow"}


def _describe_transformer_file(path: Path, family: str) -> dict[str, Any]:
    """An SD 3.x or Chroma transformer file: its variant and storage dtype from its weights."""
    from modules.engine.models import transformer_files

    try:
        facts = transformer_files.reader(family).describe(path)
    except (*transformer_files.ERRORS, OSError) as exc:
        return {"error": f"this looks like a {families.label(family)} transformer, but {exc}"}
    return {"family": family, "family_label": facts.label, "inpainting": False, "prediction": "flow"}


def _describe_gguf(path: Path) -> dict[str, Any]:
    from modules.engine.models import gguf_files

    try:
        facts = gguf_files.describe(path)
    except gguf_files.GgufError as exc:
        return {"error": str(exc)}
    config = {**facts.config, "axes_dims_rope": list(facts.config["axes_dims_rope"])}
    return {"family": "flux", "family_label": facts.label, "inpainting": False, "prediction": "flow",
            "quant": facts.quant, "gguf_config": config}


def _with_companion(info: CheckpointInfo, facts: dict[str, Any], folders: list[Path]) -> CheckpointInfo:
    """A GGUF transformer takes its text encoders and VAE from module files, as a Flux file does
    (ModelManager.with_parts); a Flux diffusers folder whose own fit it is remembered to lend them when those files
    do not make a whole set."""
    from modules.engine.models import gguf_files

    if info.error or "gguf_config" not in facts:
        return info
    companion = gguf_files.pick_companion(facts["gguf_config"], folders)
    return replace(info, companion=companion) if companion is not None else info


def _describe_folder(folder: Path) -> dict[str, Any]:
    from modules.engine.models import bnb_files

    try:
        quant = bnb_files.folder_quantization(folder)
        return {**_diffusers_family(folder), **({"bnb": quant} if quant else {})}
    except (OSError, ValueError, KeyError) as exc:
        return {"error": f"diffusers folder {folder.name} is not usable: {exc}"}


def iter_checkpoint_paths(root: Path) -> Iterator[tuple[Path, str]]:
    """Files and diffusers folders under root, recursively, in a stable order. Symlinks are followed."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if "model_index.json" in filenames and here != root:
            dirnames[:] = []
            yield here, "diffusers"
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(CHECKPOINT_SUFFIXES) and not name.startswith("."):
                yield here / name, "gguf" if name.lower().endswith(".gguf") else "single_file"


def _stale(facts: dict[str, Any]) -> bool:
    """Facts written before Flux, SD 3.x, Chroma, Z-Image and Qwen-Image transformer files loaded (their old
    refusals), to be read again. The last two were refused as UNet files: a real UNet-only file is read again too,
    which costs a header read per refresh."""
    error = str(facts.get("error", ""))
    return ("cannot be loaded yet" in error and ("Flux" in error or "Stable Diffusion 3" in error)
            or "Chroma (Flux) is not supported yet" in error
            or "looks like a Flux transformer" in error and "vector_in" in error
            or "UNet-only files are not supported yet" in error
            or "it has no model.diffusion_model.* UNet weights" in error)


class CheckpointRegistry:
    """The checkpoints under one folder. `refresh()` rescans; lookups see a consistent snapshot."""

    def __init__(self, root: Path, cache: HashCache, device_type: str = "cpu",
                 extra_roots: tuple[Path, ...] = ()) -> None:
        self.root = root
        # ComfyUI's models/diffusion_models and models/unet: transformer single files (folders of those are not
        # diffusers checkpoints there), listed by their name under that folder.
        self.extra_roots = tuple(r for r in extra_roots if r != root)
        self.cache = cache
        self.device_type = device_type  # bitsandbytes checkpoints run on CUDA only
        self._items: tuple[CheckpointInfo, ...] = ()

    def refresh(self) -> list[CheckpointInfo]:
        items = []
        describers = {"diffusers": _describe_folder, "gguf": _describe_gguf, "single_file": _describe_file}
        gguf_facts: dict[Path, dict[str, Any]] = {}
        found = [(path, kind, self.root) for path, kind in iter_checkpoint_paths(self.root)]
        found += [(path, kind, root) for root in self.extra_roots for path, kind in iter_checkpoint_paths(root)
                  if kind != "diffusers"]
        for path, kind, root in found:
            facts = self.cache.get(path)
            if facts is None or ("family" not in facts and "error" not in facts) or _stale(facts):
                # An older refusal is replaced (None, as the cache merges what it stores), never kept beside new facts.
                facts = {**(facts or {}), **({"error": None} if facts and _stale(facts) else {}),
                         **describers[kind](path)}
                self.cache.put(path, facts)
            if kind == "gguf":
                gguf_facts[path] = facts
            name = path.relative_to(root).as_posix()
            items.append(CheckpointInfo(
                name=name, path=path, kind=kind, family=facts.get("family"),
                family_label=facts.get("family_label", ""), inpainting=facts.get("inpainting", False),
                prediction=facts.get("prediction", "epsilon"), error=facts.get("error"), sha256=facts.get("sha256"),
                quant=facts.get("quant") or facts.get("bnb"),
            ))
            if facts.get("bnb") and kind == "diffusers" and not facts.get("error"):
                from modules.engine.models import bnb_files

                reason = bnb_files.refusal(facts["bnb"], kind, self.device_type)
                items[-1] = replace(items[-1], error=reason) if reason else items[-1]
        folders = [i.path for i in items if i.kind == "diffusers" and i.usable]
        items = [_with_companion(i, gguf_facts[i.path], folders) if i.kind == "gguf" else i for i in items]
        self._items = tuple(items)
        log.info("found %d checkpoints in %s (%d unusable)", len(items), self.root, sum(not i.usable for i in items))
        return list(items)

    def all(self) -> list[CheckpointInfo]:
        return list(self._items)

    def usable(self) -> list[CheckpointInfo]:
        return [i for i in self._items if i.usable]

    def find(self, query: str) -> CheckpointInfo | None:
        for info in self._items:
            if info.matches(query):
                return info
        return None

    def ensure_hash(self, info: CheckpointInfo) -> CheckpointInfo:
        """The info with its SHA-256 (computed once per file version, then cached)."""
        if info.sha256:
            return info
        cached = self.cache.get(info.path) or {}
        sha = cached.get("sha256")
        if not sha:
            sha = sha256_folder(info.path) if info.kind == "diffusers" else sha256_file(info.path)
            self.cache.put(info.path, {"sha256": sha})
        updated = replace(info, sha256=sha)
        listed = replace(updated, parts=(), config_folders=())  # a job's choice of text encoders stays with the job
        self._items = tuple(listed if i.path == info.path else i for i in self._items)
        return updated

    def hash_missing(self, stop: threading.Event | None = None) -> None:
        for info in self.all():
            if stop is not None and stop.is_set():
                return
            if info.usable and not info.sha256:
                self.ensure_hash(info)


@dataclass(frozen=True)
class VaeInfo:
    name: str
    path: Path


def model_files(root: Path | None, suffixes: tuple[str, ...]) -> list[Path]:
    """Files with these suffixes under `root` (subfolders and symlinks too, hidden files not), in a stable
    order: how every models/ subfolder of single files is listed."""
    if root is None or not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        found += [Path(dirpath) / name for name in sorted(filenames)
                  if name.lower().endswith(suffixes) and not name.startswith(".")]
    return found


def scan_vaes(root: Path) -> list[VaeInfo]:
    return [VaeInfo(path.relative_to(root).as_posix(), path) for path in model_files(root, VAE_SUFFIXES)]
