"""ControlNet models in models/ControlNet: found, told apart by family, loaded offline, kept in an LRU cache.

Two layouts, as users have them: diffusers folders (config.json + weights) and single files in the original
layout (`control_v11p_sd15_scribble.safetensors` / `.pth`), whose config is the family's (shipped in
configs/controlnet-<family>, derived from the UNet configs by tools/make_controlnet_configs.py). The family
is read from the cross-attention width: 768 SD 1.x, 1024 SD 2.x, 2048 SDXL; our demo ControlNets say "demo".
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.engine.models import families
from modules.engine.models.loras import read_header

log = logging.getLogger(__name__)

SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
CONFIGS = Path(__file__).resolve().parent / "configs"
# diffusers-format ControlNets of the flow families, told by the class config.json names (folders only: these
# have no single-file layout we read yet).
FLOW_CONTROLNETS = {"FluxControlNetModel": "flux", "SD3ControlNetModel": "sd3"}


class ControlNetError(RuntimeError):
    """A ControlNet that cannot be used for this job; the message says why and what to do."""


@dataclass(frozen=True)
class ControlNetInfo:
    name: str  # relative path without extension, as sd-webui-controlnet lists models
    path: Path
    kind: str  # "diffusers" | "single_file"
    family: str | None
    error: str | None = None

    @property
    def family_label(self) -> str:
        return families.label(self.family)


def _family_from_shapes(shapes: dict[str, list[int]]) -> str | None:
    for key, shape in shapes.items():
        if key.endswith("attn2.to_k.weight") and len(shape) == 2:
            return families.family_of_width(shape[1])
    return None


def _describe_file(path: Path) -> tuple[str | None, str | None]:
    try:
        if path.suffix.lower() == ".safetensors":
            header = read_header(path)[0]
            shapes = {k: v["shape"] for k, v in header.items() if isinstance(v, dict) and "shape" in v}
        else:
            import torch

            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            raw = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
            shapes = {k: list(v.shape) for k, v in raw.items() if hasattr(v, "shape")}
    except Exception as exc:  # a truncated download or a pickle that needs code: listed, with the reason
        return None, f"cannot be read ({exc})"
    if not any("input_hint_block" in k or "controlnet_cond_embedding" in k for k in shapes):
        return None, "is not a ControlNet (no hint encoder in it)"
    family = _family_from_shapes(shapes)
    if family is None:
        return None, "has an unsupported layout (no cross-attention found)"
    if family.startswith("custom-"):
        return family, "is not an SD 1.x/2.x/XL ControlNet; single files are supported for those only"
    return family, None


def _describe_folder(folder: Path) -> tuple[str | None, str | None]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"has an unreadable config.json ({exc})"
    if (folder / "training.json").is_file():
        return "demo", None
    if config.get("_class_name") in FLOW_CONTROLNETS:
        return FLOW_CONTROLNETS[config["_class_name"]], None
    dim = config.get("cross_attention_dim")
    family = families.family_of_width(dim)
    return (family, None) if family else (None, f"has no usable cross_attention_dim in config.json ({dim!r})")


def scan(root: Path) -> list[ControlNetInfo]:
    if not root.is_dir():
        return []
    found: list[ControlNetInfo] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if (here / "config.json").is_file() and here != root:
            family, error = _describe_folder(here)
            found.append(ControlNetInfo(here.relative_to(root).as_posix(), here, "diffusers", family, error))
            dirnames.clear()  # a diffusers folder's contents are its weights, not more models
            continue
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            if name.lower().endswith(SUFFIXES) and not name.startswith("."):
                family, error = _describe_file(path)
                rel = path.relative_to(root).as_posix()
                found.append(ControlNetInfo(os.path.splitext(rel)[0], path, "single_file", family, error))
    return found


def load_controlnet(info: ControlNetInfo, dtype: Any, device: Any) -> Any:
    import torch
    from diffusers import ControlNetModel

    try:
        if info.kind == "diffusers":
            cls = _flow_class(info.path) or ControlNetModel
            model = cls.from_pretrained(str(info.path), torch_dtype=dtype, local_files_only=True)
        else:
            from modules.engine.models.single_file import read_state_dict

            state_dict = read_state_dict(info.path)
            state_dict = {k.removeprefix("control_model."): v for k, v in state_dict.items()}
            model = ControlNetModel.from_single_file(state_dict, config=str(CONFIGS / f"controlnet-{info.family}"),
                                                     torch_dtype=dtype, local_files_only=True)
    except Exception as exc:
        raise ControlNetError(f"ControlNet {info.name} could not be loaded: {exc}") from exc
    model = model.to(device=device, dtype=dtype).eval()
    model.requires_grad_(False)
    if device.type == "cpu" and dtype == torch.bfloat16:
        model = model.to(memory_format=torch.channels_last)
    return model


def _flow_class(folder: Path) -> Any:
    """The diffusers class of a flow family's ControlNet folder (None for SD's ControlNetModel)."""
    import diffusers

    name = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_class_name")
    return getattr(diffusers, name) if name in FLOW_CONTROLNETS else None
