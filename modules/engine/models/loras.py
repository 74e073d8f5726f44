"""LoRAs in models/Lora: found (subfolders too), told apart by family, hashed as A1111 does, and applied to
a loaded pipeline for one job at a time.

Adapters are loaded once per loaded checkpoint with diffusers' `load_lora_weights` (kohya/A1111 and
diffusers/PEFT key formats) and kept (LRU) on it; a job sets their weights with `set_adapters`. For the job's
steps the deltas are then added into the base weights (fused), because unfused PEFT layers make every UNet step
slower (see bench/bench_lora.py); the touched weights are copied first and copied back after the job, so the
base returns bit for bit (diffusers' unfuse subtracts, which drifts by ~1e-6: NOTES-diffusers.md).
Pipelines with a transformer (the flow families) load and weigh theirs through engine/models/flow_loras.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.engine.models import families, flow_lora_keys, flow_loras
from modules.engine.models.registry import model_files

log = logging.getLogger(__name__)

SUFFIXES = (".safetensors", ".pt", ".ckpt")
PREVIEW_SUFFIXES = (".png", ".preview.png", ".jpg", ".jpeg", ".webp")
# The metadata fields users look for on a card (kohya's ss_* and the modelspec ones).
SHOWN_METADATA = ("ss_base_model_version", "ss_sd_model_name", "ss_network_dim", "ss_network_alpha",
                  "modelspec.title", "modelspec.trigger_phrase", "modelspec.description", "ss_output_name")


class LoraError(RuntimeError):
    """A LoRA that cannot be used for this job; the message says why."""


@dataclass(frozen=True)
class LoraInfo:
    name: str  # the file name without extension: what `<lora:name:1>` uses, as in A1111
    path: Path
    family: str | None
    metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    error: str | None = None
    preview: Path | None = None

    @property
    def family_label(self) -> str:
        return families.label(self.family)

    @property
    def alias(self) -> str:
        return self.metadata.get("ss_output_name", "") or self.name

    @property
    def trigger_words(self) -> list[str]:
        phrase = self.metadata.get("modelspec.trigger_phrase", "")
        words = [w.strip() for w in phrase.split(",") if w.strip()]
        if not words and self.metadata.get("ss_tag_frequency"):
            try:  # kohya: {dataset: {tag: count}}: the most used tags are the triggers people type
                counts: dict[str, int] = {}
                for tags in json.loads(self.metadata["ss_tag_frequency"]).values():
                    for tag, n in tags.items():
                        counts[tag.strip()] = counts.get(tag.strip(), 0) + int(n)
                words = [t for t, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:5]]
            except (ValueError, AttributeError, TypeError):
                pass
        return words


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header and the offset where the tensor bytes start."""
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("the file is too short to be safetensors")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:
            raise ValueError("the header length is not plausible")
        header = json.loads(fh.read(length))
    return header, 8 + length


def lora_hash(path: Path) -> str:
    """A1111's LoRA hash ("addnet" hash): SHA-256 of the file after the safetensors header, 12 hex digits
    in the infotext. Metadata edits do not change it."""
    digest = hashlib.sha256()
    offset = read_header(path)[1] if path.suffix.lower() == ".safetensors" else 0
    with path.open("rb") as fh:
        fh.seek(offset)
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def family_from_keys(shapes: dict[str, list[int]], metadata: dict[str, str]) -> str | None:
    if metadata.get("ss_base_model_version") == "demo":
        return "demo"
    flow = flow_lora_keys.flow_family(shapes, metadata)
    if flow is not None:
        return flow
    if any(k.startswith(("lora_te1_", "lora_te2_", "te1.", "te2.", "text_encoder_2.")) for k in shapes):
        return "sdxl"
    for key, shape in shapes.items():
        # kohya `..._attn2_to_k.lora_down.weight`, PEFT `...attn2.to_k.lora_A.weight`: [rank, context width]
        if re.search(r"attn2[._]to_k\.(lora_down|lora_A)\.weight$", key) and len(shape) == 2:
            width = shape[1]
            return families.family_of_width(width)
    return None


def _preview(path: Path) -> Path | None:
    stem = path.with_suffix("")
    for suffix in PREVIEW_SUFFIXES:
        candidate = Path(f"{stem}{suffix}")
        if candidate.is_file():
            return candidate
    return None


def describe(path: Path) -> LoraInfo:
    name = path.stem
    if path.suffix.lower() != ".safetensors":
        # Pickles are only read at load time (weights_only); their family shows then.
        return LoraInfo(name, path, None, {}, None, _preview(path))
    try:
        header, _ = read_header(path)
    except (OSError, ValueError) as exc:
        return LoraInfo(name, path, None, {}, f"is not a readable safetensors file ({exc})", _preview(path))
    metadata = {k: str(v) for k, v in (header.get("__metadata__") or {}).items()}
    shapes = {k: v.get("shape", []) for k, v in header.items() if isinstance(v, dict) and k != "__metadata__"}
    if not any(m in k for k in shapes for m in (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".hada_", ".lokr_")):
        return LoraInfo(name, path, None, metadata, "has no LoRA weights in it", _preview(path))
    return LoraInfo(name, path, family_from_keys(shapes, metadata), metadata, None, _preview(path))


def scan(root: Path | None) -> list[LoraInfo]:
    return [describe(path) for path in model_files(root, SUFFIXES)]


# ------------------------------------------------------------------------------------------ adapters


def adapter_name(info: LoraInfo) -> str:
    # PEFT adapter names become attribute keys: keep them to safe characters, unique per file and version (a
    # LoRA saved again under the same name must not keep its old weights).
    try:
        stat = info.path.stat()
        version = f"{info.path}:{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        version = str(info.path)
    digest = hashlib.sha1(version.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_]", "_", info.name)[:48] + "_" + digest


@dataclass
class AdapterSet:
    """The adapters loaded into one pipeline, most recently used last, and the weights a fused job changed."""

    capacity: int = 8
    fuse: bool = True
    loaded: OrderedDict[str, LoraInfo] = field(default_factory=OrderedDict)
    originals: list[tuple[Any, Any]] = field(default_factory=list)  # (parameter, exact copy of its base value)

    def ensure(self, pipe: Any, info: LoraInfo, keep: frozenset[str] = frozenset()) -> str:
        """Load `info` unless loaded; `keep` are the adapters the same job uses, never evicted for it."""
        name = adapter_name(info)
        if name in self.loaded:
            self.loaded.move_to_end(name)
            return name
        for old in [n for n in self.loaded if n not in keep][: max(0, len(self.loaded) + 1 - self.capacity)]:
            del self.loaded[old]
            pipe.delete_adapters(old)
        try:
            self.load(pipe, info, name)
        except Exception as exc:  # corrupt file, unknown key layout, a pickle that needs code
            _drop_partial(pipe, name)
            raise LoraError(f"LoRA {info.name} could not be loaded from {info.path.name}: {exc}") from exc
        self.loaded[name] = info
        return name

    def load(self, pipe: Any, info: LoraInfo, name: str) -> None:
        if flow_loras.is_transformer_pipe(pipe):
            flow_loras.load(pipe, info.path, name)
        else:
            pipe.load_lora_weights(str(info.path), adapter_name=name)

    def components(self, pipe: Any) -> list[Any]:
        """The modules a job's adapters may touch (and so whose weights a fused job changes)."""
        if flow_loras.is_transformer_pipe(pipe):
            return flow_loras.components(pipe)
        return [c for c in (pipe.unet, getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None))
                if c is not None]

    def activate(self, pipe: Any, entries: list[tuple[str, float, float]]) -> None:
        """entries: (adapter name, text-encoder weight, UNet weight)."""
        pipe.enable_lora()
        weights = [{"unet": unet, "text_encoder": te, "text_encoder_2": te} for _, te, unet in entries]
        if getattr(pipe, "text_encoder_2", None) is None:
            weights = [{k: v for k, v in w.items() if k != "text_encoder_2"} for w in weights]
        if flow_loras.is_transformer_pipe(pipe):  # the UNet weight goes to the transformer
            weights = flow_loras.adapter_weights(pipe, entries)
        pipe.set_adapters([name for name, _, _ in entries], adapter_weights=weights)
        if self.fuse:
            self._fuse(pipe)

    def _fuse(self, pipe: Any) -> None:
        import torch
        from peft.tuners.lora.layer import LoraLayer

        self.restore()
        with torch.no_grad():
            for component in self.components(pipe):
                for module in component.modules():
                    if not isinstance(module, LoraLayer) or module.merged:
                        continue
                    active = [a for a in module.active_adapters if a in module.lora_A]
                    if not active:
                        continue
                    weight = module.get_base_layer().weight
                    delta = sum(module.get_delta_weight(a) for a in active)
                    # Kept on the CPU: on a GPU the copies would take VRAM the job needs.
                    self.originals.append((weight, weight.detach().to("cpu", copy=True)))
                    weight.add_(delta.to(weight.dtype))
        pipe.disable_lora()  # the adapters' own path would add the deltas a second time

    def restore(self) -> None:
        """Put back the exact base weights a fused job changed."""
        if not self.originals:
            return
        import torch

        with torch.no_grad():
            for weight, original in self.originals:
                weight.copy_(original)
        self.originals.clear()

    def deactivate(self, pipe: Any) -> None:
        self.restore()
        if self.loaded:
            pipe.disable_lora()


def _drop_partial(pipe: Any, name: str) -> None:
    try:
        pipe.delete_adapters(name)
    except Exception:  # nothing was attached: nothing to remove
        pass
