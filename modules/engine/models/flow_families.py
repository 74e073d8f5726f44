"""The flow-matching transformer families (Flux.1, SD 3.x): telling them from their configs and weights.

A diffusers folder says what it is in `model_index.json` (the pipeline class) and `transformer/config.json`;
a single file only by its keys: Flux's transformer in BFL's release layout (`double_blocks.*`, `single_blocks.*`,
also under ComfyUI's `model.diffusion_model.` prefix) or in diffusers' (`transformer_blocks.*`,
`single_transformer_blocks.*`). The variant (dev: a distilled-guidance embedding; schnell: none) and the storage
dtype come from the weights. Only headers and a few small tensors are read: detection runs at every rescan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modules.engine.models import families

# Pipelines of the families we run, by the class model_index.json names.
FLUX_PIPELINES = ("FluxPipeline",)
SD3_PIPELINES = ("StableDiffusion3Pipeline",)
# Pipelines of these families we recognise but do not run yet -> what to tell the user.
NOT_YET = {
    "FluxFillPipeline": "Flux Fill (inpainting) is not supported yet",
    "FluxKontextPipeline": "Flux Kontext (editing) is not supported yet",
    "FluxControlPipeline": "Flux control models (Canny/Depth) are not supported yet",
    "ChromaPipeline": "Chroma is not supported yet",
    "QwenImagePipeline": "Qwen-Image is not supported yet",
    "QwenImageEditPipeline": "Qwen-Image-Edit is not supported yet",
    "ZImagePipeline": "Z-Image is not supported yet",
}
BFL_PREFIX = "model.diffusion_model."  # ComfyUI's and most Civitai files put BFL's keys under this prefix


def is_flow_index(index: Mapping[str, Any]) -> bool:
    cls = str(index.get("_class_name", ""))
    return cls in FLUX_PIPELINES or cls in SD3_PIPELINES or cls in NOT_YET


def describe_folder(folder: Path, index: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's facts about a Flux or SD3 diffusers folder (family, label), from its configs only."""
    cls = str(index.get("_class_name", ""))
    if cls in NOT_YET:
        raise ValueError(f"{NOT_YET[cls]} ({cls})")
    transformer = json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
    if cls in SD3_PIPELINES:
        return {"family": "sd3", "family_label": sd3_label(transformer), "inpainting": False,
                "prediction": "flow"}
    # Our own demo members carry the training record our trainer writes (training/train_flux.py).
    family = "demo-flux" if (folder / "training.json").is_file() else "flux"
    return {"family": family, "family_label": flux_label(family, bool(transformer.get("guidance_embeds"))),
            "inpainting": False, "prediction": "flow"}


def flux_label(family: str, guidance: bool) -> str:
    variant = "dev (distilled guidance)" if guidance else "schnell (no guidance embedding)"
    return f"{families.label(family)} {variant}" if family == "flux" else families.label(family)


def sd3_label(transformer: Mapping[str, Any]) -> str:
    """SD 3 Medium / 3.5 Medium have 24 joint blocks (3.5 Medium with its extra self-attention layers), 3.5 Large 38."""
    layers = int(transformer.get("num_layers", 0))
    if layers >= 38:
        return "SD 3.5 Large"
    if transformer.get("dual_attention_layers"):
        return "SD 3.5 Medium"
    return "SD 3 Medium" if layers == 24 else f"SD 3.x ({layers} blocks)"


def flux_keys(keys: list[str]) -> str | None:
    """The layout of a Flux transformer's weights: "bfl" (release, maybe prefixed), "diffusers", or None."""
    stripped = [k.removeprefix(BFL_PREFIX) for k in keys]
    if any(k.startswith("double_blocks.") for k in stripped) and any(k.startswith("single_blocks.") for k in stripped):
        return "bfl"
    if any(k.startswith("single_transformer_blocks.") for k in keys) and any(k.startswith("x_embedder.") for k in keys):
        return "diffusers"
    return None
