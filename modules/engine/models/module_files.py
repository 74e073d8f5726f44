"""Separate text-encoder and VAE files (Forge's "VAE / Text encoder" modules): what each file is, read from its
weights' names and shapes alone.

Flux, SD 3.x, Z-Image and Qwen-Image users download the transformer apart from its text encoders (ComfyUI's
`clip_l.safetensors`, `t5xxl_fp16.safetensors`, `t5xxl_fp8_e4m3fn.safetensors`, `qwen_2.5_vl_7b.safetensors`...)
and its VAE (`ae.safetensors`). They live in models/text_encoder (Forge's name; ComfyUI's `text_encoders` and
`clip` too) and models/VAE. Only safetensors headers are read (shapes and dtypes), so a rescan costs nothing.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".safetensors",)

# Where a part's weights start inside all-in-one files (ComfyUI's checkpoint save layout) and converted files.
CLIP_PREFIXES = ("text_encoders.clip_l.transformer.", "cond_stage_model.clip_l.transformer.", "clip_l.transformer.",
                 "text_encoders.clip_g.transformer.", "cond_stage_model.clip_g.transformer.", "transformer.", "")
T5_PREFIXES = ("text_encoders.t5xxl.transformer.", "cond_stage_model.t5xxl.transformer.", "t5xxl.transformer.", "")
VAE_PREFIXES = ("first_stage_model.", "vae.", "")

_DTYPES = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F16": "float16", "BF16": "bfloat16",
           "F32": "float32", "F64": "float64"}


@dataclass(frozen=True)
class ModuleInfo:
    """One text-encoder or VAE file as the list and the loader see it."""

    name: str  # the file name the request names (Forge sends names like "ae.safetensors")
    path: Path
    kind: str  # "clip-l" | "clip-g" | "clip" | "t5xxl" | "t5" | "qwen2.5-vl" | "qwen3" | "vae" | "unknown"
    label: str  # "CLIP-L text encoder (float16)"
    dtype: str = ""  # the storage dtype most weights have ("float8_e4m3fn", "float16"...)
    shape: tuple[int, ...] = ()  # what a config must match: (vocab, width, layers) or (latent channels, widths...)
    error: str | None = None  # why it cannot be used (not yet loadable, unreadable...)
    prefix: str = ""  # where its weights start inside the file
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str | None:
        """Which slot of a transformer pipeline it fills: "clip" (CLIP-L, or a CLIP of another width), "clip_g"
        (SD 3.x's second CLIP, 1280 wide), "t5", "vae" (None: none of ours). CLIP-G never stands in for CLIP-L."""
        return {"clip-l": "clip", "clip-g": "clip_g", "clip": "clip", "t5xxl": "t5", "t5": "t5",
                "vae": "vae"}.get(self.kind)

    @property
    def projection(self) -> int | None:
        """A CLIP's text projection width (SD 3.x pools through it), None when the file has none."""
        return self.extra.get("projection")

    @property
    def usable(self) -> bool:
        return self.error is None


def _layers(keys: Iterable[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def storage_dtype(dtypes: Iterable[str]) -> str:
    """The dtype most weights are stored in (an fp8 file keeps its norms in fp16/fp32)."""
    counts = Counter(_DTYPES.get(d, d.lower()) for d in dtypes)
    return counts.most_common(1)[0][0] if counts else ""


def clip_shape(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> tuple[int, int, int] | None:
    """(vocabulary, width, layers) of a CLIP text encoder under `prefix`, None when there is none."""
    embedding = shapes.get(prefix + "text_model.embeddings.token_embedding.weight")
    if embedding is None:
        return None
    layers = _layers((k.removeprefix(prefix) for k in shapes), r"text_model\.encoder\.layers\.(\d+)\.")
    return int(embedding[0]), int(embedding[1]), layers


def t5_shape(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> tuple[int, int, int] | None:
    """(vocabulary, width, layers) of a T5 encoder under `prefix`."""
    embedding = shapes.get(prefix + "shared.weight") or shapes.get(prefix + "encoder.embed_tokens.weight")
    if embedding is None or prefix + "encoder.block.0.layer.0.SelfAttention.q.weight" not in shapes:
        return None
    layers = _layers((k.removeprefix(prefix) for k in shapes), r"encoder\.block\.(\d+)\.")
    return int(embedding[0]), int(embedding[1]), layers


def vae_shape(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> tuple[int, ...] | None:
    """(latent channels, block widths...) of an autoencoder in the original (LDM/BFL) or diffusers layout."""
    conv_in = shapes.get(prefix + "decoder.conv_in.weight")
    if conv_in is None or prefix + "encoder.conv_in.weight" not in shapes:
        return None
    keys = [k.removeprefix(prefix) for k in shapes]
    widths = []
    for i in range(_layers(keys, r"encoder\.down\.(\d+)\.") or _layers(keys, r"encoder\.down_blocks\.(\d+)\.")):
        conv = (shapes.get(f"{prefix}encoder.down.{i}.block.0.conv1.weight")
                or shapes.get(f"{prefix}encoder.down_blocks.{i}.resnets.0.conv1.weight"))
        if conv is None:
            return None
        widths.append(int(conv[0]))
    return (int(conv_in[1]), *widths)


def qwen_shape(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int] | None:
    """(vocabulary, width, layers) of a Qwen language model, in ComfyUI's / Hugging Face's names (`model.layers.*`)
    or transformers 5's (`model.language_model.layers.*`)."""
    for prefix in ("model.language_model.", "language_model.", "model.", ""):
        embedding = shapes.get(prefix + "embed_tokens.weight")
        if embedding is not None and prefix + "layers.0.self_attn.q_proj.weight" in shapes:
            layers = _layers((k.removeprefix(prefix) for k in shapes), r"layers\.(\d+)\.")
            return int(embedding[0]), int(embedding[1]), layers
    return None


def _prefix_of(shapes: Mapping[str, Any], prefixes: Iterable[str], probe) -> tuple[str, Any] | None:
    for prefix in prefixes:
        found = probe(shapes, prefix)
        if found is not None:
            return prefix, found
    return None


def describe_shapes(name: str, path: Path, shapes: Mapping[str, tuple[int, ...]], dtype: str) -> ModuleInfo:
    """A module file's kind from its weights' names and shapes."""
    facts = {"name": name, "path": path, "dtype": dtype}
    if (found := _prefix_of(shapes, CLIP_PREFIXES, clip_shape)) is not None:
        prefix, shape = found
        kind = {768: "clip-l", 1280: "clip-g"}.get(shape[1], "clip")
        what = {"clip-l": "CLIP-L", "clip-g": "CLIP-G"}.get(kind, f"CLIP ({shape[1]} wide, {shape[2]} layers)")
        projection = shapes.get(prefix + "text_projection.weight")
        return ModuleInfo(kind=kind, label=f"{what} text encoder ({dtype})", shape=shape, prefix=prefix,
                          extra={"projection": int(projection[0])} if projection else {}, **facts)
    if (found := _prefix_of(shapes, T5_PREFIXES, t5_shape)) is not None:
        prefix, shape = found
        kind = "t5xxl" if shape[1] == 4096 else "t5"
        what = "T5-XXL" if kind == "t5xxl" else f"T5 ({shape[1]} wide, {shape[2]} layers)"
        return ModuleInfo(kind=kind, label=f"{what} text encoder ({dtype})", shape=shape, prefix=prefix, **facts)
    if (found := _prefix_of(shapes, VAE_PREFIXES, vae_shape)) is not None:
        prefix, shape = found
        what = f"{shape[0]}-channel VAE" + (" (Flux / SD 3.x)" if shape[0] == 16 else " (SD 1.x / 2.x / XL)"
                                             if shape[0] == 4 else "")
        return ModuleInfo(kind="vae", label=f"{what} ({dtype})", shape=shape, prefix=prefix, **facts)
    if (qwen := qwen_shape(shapes)) is not None:
        # Loaded by engine/models/companion_single.py with the config and tokenizer of a diffusers folder of its
        # model (Z-Image: Qwen3; Qwen-Image: Qwen2.5-VL), matched by this shape.
        has_norm = any(k.endswith("self_attn.q_norm.weight") for k in shapes)
        vision = any(k.startswith(("visual.", "model.visual.")) for k in shapes)
        kind, what = ("qwen3", "Qwen3") if has_norm else ("qwen2.5-vl", "Qwen2.5-VL" if vision else "Qwen2.5")
        error = None if has_norm or vision else (
            "a Qwen2.5 text encoder without its vision part cannot stand in for Qwen-Image's Qwen2.5-VL; use the "
            "full qwen_2.5_vl_7b file")
        return ModuleInfo(kind=kind, label=f"{what} text encoder ({dtype})",
                          shape=qwen, error=error, **facts)
    conv = shapes.get("decoder.conv1.weight")
    if conv is not None and len(conv) == 5 and "decoder.head.2.weight" in shapes:  # 3-D convolutions: Wan 2.1's VAE
        # ComfyUI's qwen_image_vae.safetensors: Wan 2.1's layout (engine/models/companion_single.py reads it)
        return ModuleInfo(kind="qwen-vae", label=f"Qwen-Image VAE ({dtype})", shape=(int(conv[1]),), **facts)
    return ModuleInfo(kind="unknown", label=f"unknown ({dtype})",
                      error="neither a text encoder (CLIP, T5, Qwen) nor a VAE by its weights", **facts)


def read_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict[str, str]]:
    """(shapes, dtypes, metadata) of a safetensors file without reading its tensors."""
    from safetensors import safe_open

    shapes, dtypes = {}, {}
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            piece = f.get_slice(key)
            shapes[key] = tuple(piece.get_shape())
            dtypes[key] = piece.get_dtype()
    return shapes, dtypes, metadata


def describe_file(path: Path, name: str) -> ModuleInfo:
    try:
        shapes, dtypes, _ = read_header(path)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged header
        return ModuleInfo(name=name, path=path, kind="unknown", label="unreadable",
                          error=f"not a readable safetensors file ({exc}); it may be truncated: download it again")
    weights = [d for k, d in dtypes.items() if k.endswith(".weight")] or list(dtypes.values())
    return describe_shapes(name, path, shapes, storage_dtype(weights))


def scan(dirs: Iterable[Path]) -> list[ModuleInfo]:
    """Every module file under these folders (a VAE folder too), named by file name: Forge's requests send names
    like "ae.safetensors", so two files of one name in different folders keep the first."""
    found: dict[str, ModuleInfo] = {}
    for root in dirs:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for file in sorted(filenames):
                if file.lower().endswith(SUFFIXES) and not file.startswith(".") and file not in found:
                    found[file] = describe_file(Path(dirpath) / file, file)
    return list(found.values())
