"""The checkpoint merger's math and files: A1111's weighted sum and add difference, a per-UNet-block weighted
sum (the names SuperMerger and Block Merge use: IN00.., M00, OUT00..), and writing the result as safetensors.

No queue, no registry: the service (`modules/service/merger.py`) resolves names, hashes and the job; this
module turns state dicts into a state dict and a file. Every weight is computed in float32 and cast once to
the stored dtype, so a merge at 0.5 in fp16 is the fp32 average rounded once, not twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

WEIGHTED_SUM, ADD_DIFFERENCE = "weighted_sum", "add_difference"
METHODS = {WEIGHTED_SUM: "Weighted sum", ADD_DIFFERENCE: "Add difference"}  # A1111's `interp_method` labels
# The weights of each diffusers component, as `<component>.<key>` in a merged state dict.
DIFFUSERS_WEIGHTS = {"unet": "diffusion_pytorch_model.safetensors", "text_encoder": "model.safetensors",
                     "text_encoder_2": "model.safetensors", "vae": "diffusion_pytorch_model.safetensors"}
VAE_PREFIX = {"single_file": "first_stage_model.", "diffusers": "vae."}


class MergeError(ValueError):
    """The merge cannot be done as asked; the message says why and what to change."""


@dataclass(frozen=True)
class Weights:
    """A checkpoint's tensors (memory-mapped where the file allows) and the metadata of its files."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)
    unet_config: dict[str, Any] = field(default_factory=dict)  # diffusers folders: to name the UNet blocks


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, dict(handle.metadata() or {})


def read_weights(path: Path, kind: str) -> Weights:
    """A single .safetensors file as is; a diffusers folder as `<component>.<key>` over its components."""
    path = Path(path)
    if kind == "single_file":
        if path.suffix.lower() != ".safetensors":
            raise MergeError(f"{path.name} is a pickle checkpoint; the merger reads .safetensors only (a pickle "
                             "can run code). Convert it to .safetensors first.")
        tensors, metadata = _read_safetensors(path)
        return Weights(tensors, metadata)
    tensors, metadata = {}, {}
    for component, filename in DIFFUSERS_WEIGHTS.items():
        folder = path / component
        if not folder.is_dir():
            continue
        file = folder / filename
        if not file.is_file():
            raise MergeError(f"{path.name}/{component} has no {filename} (sharded or .bin weights are not read by "
                             "the merger); save the model with safetensors in one file per component.")
        part, meta = _read_safetensors(file)
        tensors.update({f"{component}.{key}": value for key, value in part.items()})
        metadata = metadata or meta
    config = json.loads((path / "unet" / "config.json").read_text(encoding="utf-8"))
    return Weights(tensors, metadata, config)


# ---------------------------------------------------------------------------------------------- UNet blocks

_ORIGINAL_BLOCK = re.compile(r"^model\.diffusion_model\.(input_blocks|middle_block|output_blocks)\.(\d+)?")
_DIFFUSERS_BLOCK = re.compile(r"^unet\.(conv_in|mid_block|down_blocks|up_blocks)\.?(\d+)?\.?(\w+)?\.?(\d+)?")


def _layers(config: Mapping[str, Any]) -> int:
    layers = config.get("layers_per_block", 2)
    return int(layers[0] if isinstance(layers, list) else layers)


def block_of(key: str, config: Mapping[str, Any]) -> str | None:
    """The block a UNet weight belongs to, in the original layout's numbering (input_blocks.N = INnn), or None
    for weights outside the blocks (time embedding, final norm and conv, text encoder, VAE): those get the
    base multiplier. Diffusers keys are numbered as the original layout would number them."""
    match = _ORIGINAL_BLOCK.match(key)
    if match:
        kind, index = match.group(1), int(match.group(2) or 0)
        return {"input_blocks": f"IN{index:02d}", "middle_block": "M00", "output_blocks": f"OUT{index:02d}"}[kind]
    match = _DIFFUSERS_BLOCK.match(key)
    if not match:
        return None
    kind, block, part, inner = match.groups()
    if kind == "conv_in":
        return "IN00"
    if kind == "mid_block":
        return "M00"
    if block is None or part is None:
        return None
    layers, block = _layers(config), int(block)
    if kind == "down_blocks":
        slot = layers if part == "downsamplers" else int(inner or 0)
        return f"IN{1 + block * (layers + 1) + slot:02d}"
    # The original layout keeps an up block's upsampler in the block of its last resnet.
    slot = layers if part == "upsamplers" else int(inner or 0)
    return f"OUT{block * (layers + 1) + slot:02d}"


def block_names(tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> list[str]:
    """The model's blocks in order, IN00.. then M00 then OUT00..: what a block-weight list gives weights for."""
    found = {name for key in tensors if (name := block_of(key, config))}
    inputs = sorted(n for n in found if n.startswith("IN"))
    outputs = sorted(n for n in found if n.startswith("OUT"))
    return inputs + (["M00"] if "M00" in found else []) + outputs


# ---------------------------------------------------------------------------------------------- the math

def merge_tensor(method: str, alpha: float, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None,
                 dtype: torch.dtype) -> torch.Tensor:
    """A1111's formulas in float32, cast once: weighted sum A*(1-M) + B*M; add difference A + (B-C)*M."""
    a32, b32 = a.to(torch.float32), b.to(torch.float32)
    if method == WEIGHTED_SUM:
        out = a32 * (1 - alpha) + b32 * alpha
    else:
        out = a32 + (b32 - c.to(torch.float32)) * alpha
    return out.to(dtype).contiguous()


def _check_same_layout(a: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor], other_role: str) -> None:
    for key, tensor in a.items():
        if key in other and other[key].shape != tensor.shape:
            raise MergeError(f"The primary and {other_role} models differ in {key} ({tuple(tensor.shape)} vs "
                             f"{tuple(other[key].shape)}): they are not the same architecture and cannot be merged.")


def merge_state_dicts(primary: Weights, secondary: Weights, tertiary: Weights | None, *, method: str,
                      multiplier: float, block_weights: tuple[float, ...] = (), save_as_half: bool = False,
                      on_progress: Callable[[int, int], None] | None = None,
                      interrupted: Callable[[], bool] | None = None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The merged tensors and warnings. Weights only in the primary are kept as they are (A1111 does the same);
    non-float tensors (position ids) are copied. Returns None-free output or raises MergeError."""
    a, b = primary.tensors, secondary.tensors
    c = tertiary.tensors if tertiary is not None else None
    if method == ADD_DIFFERENCE and c is None:
        raise MergeError("Add difference needs a tertiary model (C): A + (B - C) * M.")
    _check_same_layout(a, b, "secondary")
    if c is not None:
        _check_same_layout(a, c, "tertiary")
    weight_of = _block_multipliers(a, primary.unet_config, multiplier, block_weights)
    out, kept = {}, 0
    total = len(a)
    for n, (key, tensor) in enumerate(a.items(), start=1):
        if interrupted is not None and interrupted():
            raise InterruptedError("merge interrupted")
        dtype = torch.float16 if save_as_half and tensor.is_floating_point() else tensor.dtype
        ready = key in b and (c is None or key in c)
        if not tensor.is_floating_point() or not ready:
            kept += tensor.is_floating_point()
            out[key] = tensor.to(dtype).contiguous()
        else:
            out[key] = merge_tensor(method, weight_of(key), tensor, b[key], c[key] if c is not None else None, dtype)
        if on_progress is not None:
            on_progress(n, total)
    warnings = [f"{kept} weights of the primary model have no match in the other model(s) and were kept as "
                "they are."] if kept else []
    return out, warnings


def _block_multipliers(tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any], base: float,
                       block_weights: tuple[float, ...]) -> Callable[[str], float]:
    if not block_weights:
        return lambda key: base
    names = block_names(tensors, config)
    if len(block_weights) != len(names):
        raise MergeError(f"This model has {len(names)} UNet blocks ({names[0]}..{names[-1]}, M00 in the middle): give "
                         f"{len(names)} block weights in that order, not {len(block_weights)}.")
    by_block = dict(zip(names, block_weights))
    return lambda key: by_block.get(block_of(key, config) or "", base)


def bake_vae(tensors: dict[str, torch.Tensor], vae: Mapping[str, torch.Tensor], kind: str, vae_name: str) -> None:
    """Replace the checkpoint's VAE weights with a VAE file's (in place). The VAE must have exactly the layout
    and shapes of the checkpoint's own: a VAE of another family or layout is refused, never half applied."""
    prefix = VAE_PREFIX[kind]
    own = {key[len(prefix):]: key for key in tensors if key.startswith(prefix)}
    given = {key.removeprefix("first_stage_model."): value for key, value in vae.items()}
    missing = [key for key in own if key not in given]
    wrong = [key for key in own if key in given and given[key].shape != tensors[own[key]].shape]
    if missing or wrong:
        sample = (missing or wrong)[0]
        raise MergeError(f"VAE {vae_name} does not fit this checkpoint ({len(missing)} weights missing, {len(wrong)} "
                         f"of another shape, e.g. {sample}): pick a VAE of the same family and layout.")
    for key, full in own.items():
        tensors[full] = given[key].to(tensors[full].dtype).contiguous()


# ---------------------------------------------------------------------------------------------- writing

def _hidden_temp(parent: Path, name: str, folder: bool) -> Path:
    # A dot name: the registry's scan skips it, so a half-written merge never shows in any list.
    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=parent)
    os.close(fd)
    return Path(tmp)


def write_single_file(tensors: dict[str, torch.Tensor], metadata: dict[str, str], target: Path) -> Path:
    """Write `target` atomically and never over an existing file: a hard link fails if the name exists."""
    tmp = _hidden_temp(target.parent, target.stem, folder=False)
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.link(tmp, target)
    except FileExistsError:
        raise MergeError(f"{target.name} already exists in {target.parent}; choose another name.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_diffusers_folder(tensors: dict[str, torch.Tensor], metadata: dict[str, str], source: Path,
                           target: Path) -> Path:
    """A diffusers folder: the primary's configs, tokenizer and scheduler copied, each component's merged
    weights as safetensors carrying the recipe. Built under a hidden name, then renamed into place."""
    if target.exists():
        raise MergeError(f"{target.name} already exists in {target.parent}; choose another name.")
    tmp = _hidden_temp(target.parent, target.name, folder=True)
    try:
        for item in source.iterdir():
            if item.is_dir():
                shutil.copytree(item, tmp / item.name, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
            elif item.is_file():
                shutil.copy2(item, tmp / item.name)
        for component, filename in DIFFUSERS_WEIGHTS.items():
            part = {key[len(component) + 1:]: value for key, value in tensors.items()
                    if key.startswith(component + ".")}
            if part:
                (tmp / component).mkdir(exist_ok=True)
                save_file(part, str(tmp / component / filename), metadata=metadata)
        if target.exists():
            raise MergeError(f"{target.name} already exists in {target.parent}; choose another name.")
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
