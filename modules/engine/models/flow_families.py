"""The flow-matching transformer families (Flux.1 with Kontext and Fill, SD 3.x, Chroma, Z-Image, Qwen-Image and
Qwen-Image-Edit, and any other diffusers transformer pipeline as a generic fallback): telling them from their
configs and weights, and what each pipeline class can do (`PIPELINES`).

A diffusers folder says what it is in `model_index.json` (the pipeline class) and `transformer/config.json`;
a single file only by its keys: Flux's transformer in BFL's release layout (`double_blocks.*`, `single_blocks.*`,
also under ComfyUI's `model.diffusion_model.` prefix) or in diffusers' (`transformer_blocks.*`,
`single_transformer_blocks.*`). The variant (dev: a distilled-guidance embedding; schnell: none) and the storage
dtype come from the weights. Only headers and a few small tensors are read: detection runs at every rescan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.engine.models import families

BFL_PREFIX = "model.diffusion_model."  # ComfyUI's and most Civitai files put BFL's keys under this prefix
GENERIC = "generic"  # any other transformer pipeline diffusers has: txt2img through the class model_index.json names


@dataclass(frozen=True)
class FlowPipeline:
    """What a pipeline class (as model_index.json names it) is and can do in our flow path."""
    family: str
    modes: tuple[str, ...]  # "txt2img", "img2img", "edit" (img2img = instruction + reference), "fill" (inpaint on
    # an inpainting model), "inpaint" (inpaint and outpaint through the `inpaint` class)
    img2img: str | None = None  # the diffusers class sharing its weights for img2img
    guidance: str = "cfg"  # "cfg": guidance_scale is real CFG; "true_cfg": true_cfg_scale is; "flux": both, the
    # distilled one feeding a guidance embedding; "distilled": only the embedding (no unguided pass at all)
    own_noise: bool = False  # we pass the initial latents (seeded per image, variation seeds) in its layout
    references: int = 0  # edit models: how many reference pictures one call takes (0: not an edit model)
    inpaint: str | None = None  # the diffusers class sharing its weights for inpaint and outpaint ("inpaint" mode)
    control_map: bool = False  # a control checkpoint: every call takes a control picture (from a ControlNet unit)


PIPELINES: Mapping[str, FlowPipeline] = {
    # Families without an inpainting model of their own inpaint through diffusers' generic inpaint pipeline: the
    # picture's latents are put back outside the mask at every step.
    "FluxPipeline": FlowPipeline("flux", ("txt2img", "img2img", "inpaint"), "FluxImg2ImgPipeline", "flux",
                                 own_noise=True, inpaint="FluxInpaintPipeline"),
    "StableDiffusion3Pipeline": FlowPipeline("sd3", ("txt2img", "img2img", "inpaint"),
                                             "StableDiffusion3Img2ImgPipeline", own_noise=True,
                                             inpaint="StableDiffusion3InpaintPipeline"),
    "ChromaPipeline": FlowPipeline("chroma", ("txt2img", "img2img", "inpaint"), "ChromaImg2ImgPipeline",
                                   inpaint="ChromaInpaintPipeline"),
    "ZImagePipeline": FlowPipeline("zimage", ("txt2img", "img2img", "inpaint"), "ZImageImg2ImgPipeline",
                                   inpaint="ZImageInpaintPipeline"),
    "QwenImagePipeline": FlowPipeline("qwen-image", ("txt2img", "img2img", "inpaint"), "QwenImageImg2ImgPipeline",
                                      "true_cfg", inpaint="QwenImageInpaintPipeline"),
    "QwenImageEditPipeline": FlowPipeline("qwen-image-edit", ("edit",), guidance="true_cfg", references=1),
    # Edit Plus (2509 and later) takes up to three reference pictures in one call.
    "QwenImageEditPlusPipeline": FlowPipeline("qwen-image-edit", ("edit",), guidance="true_cfg", references=3),
    # Kontext also draws without a reference (plain txt2img), as BFL's release does; it inpaints through its own
    # inpaint pipeline, which shows the transformer the picture (or a reference) beside the masked latents.
    "FluxKontextPipeline": FlowPipeline("flux-kontext", ("txt2img", "edit", "inpaint"), guidance="flux",
                                        references=1, inpaint="FluxKontextInpaintPipeline"),
    "FluxFillPipeline": FlowPipeline("flux-fill", ("fill",), guidance="distilled"),
    # Flux.1 Canny/Depth dev: the control picture's latents join the noisy ones (a 128-channel transformer input).
    "FluxControlPipeline": FlowPipeline("flux-control", ("txt2img", "img2img"), "FluxControlImg2ImgPipeline",
                                        guidance="distilled", control_map=True),
}
# Pipelines of these families we recognise but do not run yet -> what to tell the user.
NOT_YET: dict[str, str] = {}
FLUX_PIPELINES = tuple(cls for cls, p in PIPELINES.items() if p.family in ("flux", "flux-kontext", "flux-fill",
                                                                          "flux-control"))
SD3_PIPELINES = ("StableDiffusion3Pipeline",)


def pipeline_of(cls: str) -> FlowPipeline:
    """The table's entry for a pipeline class; any other is the generic fallback (txt2img only)."""
    return PIPELINES.get(cls) or FlowPipeline(GENERIC, ("txt2img",))


def is_flow_index(index: Mapping[str, Any]) -> bool:
    """Ours to describe: a flow family we know, one we refuse by name, or any pipeline without a UNet (the generic
    fallback; UNet pipelines keep the SD path, which tells their family from the UNet)."""
    cls = str(index.get("_class_name", ""))
    return cls in PIPELINES or cls in NOT_YET or (cls.endswith("Pipeline") and "unet" not in index)


def describe_folder(folder: Path, index: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's facts about a flow-model diffusers folder (family, label), from its configs only."""
    cls = str(index.get("_class_name", ""))
    if cls in NOT_YET:
        raise ValueError(f"{NOT_YET[cls]} ({cls})")
    missing = missing_parts(folder, index)
    if missing:
        raise ValueError(missing)
    if cls not in PIPELINES:
        facts = _generic(cls)  # a class diffusers lacks is named first
        if not any(isinstance(v, list) and not k.startswith("_") for k, v in index.items()):
            raise ValueError(f"{folder.name}/model_index.json names no parts ({cls}): copy the whole diffusers folder")
        return facts
    config_file = folder / "transformer" / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{cls} folder without transformer/config.json: copy the whole diffusers folder, "
                         "including transformer/")
    transformer = json.loads(config_file.read_text(encoding="utf-8"))
    family = PIPELINES[cls].family
    facts = {"family": family, "inpainting": family == "flux-fill", "prediction": "flow"}
    if cls in SD3_PIPELINES:
        return facts | {"family_label": sd3_label(transformer)}
    if family == "flux":
        # Our own demo members carry the training record our trainer writes (training/train_flux.py).
        family = "demo-flux" if (folder / "training.json").is_file() else "flux"
        return facts | {"family": family,
                        "family_label": flux_label(family, bool(transformer.get("guidance_embeds")))}
    return facts | {"family_label": families.label(family)}


_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "spiece.model", "tokenizer.model", "vocab.txt")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


def missing_parts(folder: Path, index: Mapping[str, Any]) -> str | None:
    """Which file of the folder is missing, said so the user can put it there (weights, configs and tokenizers all
    come from the user's folder: nothing is downloaded); None when every part model_index.json names is present."""
    for part, value in index.items():
        if part.startswith("_") or not isinstance(value, list) or len(value) != 2 or value[1] is None:
            continue
        sub, cls = folder / part, str(value[1])
        where = f"{part}/ of the model's diffusers release into {sub}"
        if not sub.is_dir():
            return f"its {part}/ folder ({cls}) is missing: copy {where}"
        if "Tokenizer" in cls or "Processor" in cls:
            if not any((sub / name).is_file() for name in _TOKENIZER_FILES):
                return (f"its tokenizer files are missing from {sub} (one of {', '.join(_TOKENIZER_FILES)}): "
                        f"copy {where}")
        elif "Scheduler" not in cls and not (sub / "config.json").is_file():
            return f"{sub / 'config.json'} is missing: copy {where}"
        elif "Scheduler" not in cls and not any(p.name.endswith(_WEIGHT_SUFFIXES) for p in sub.iterdir()):
            return f"the weights of {part} ({cls}) are missing from {sub}: copy {where}"
    return None


def _generic(cls: str) -> dict[str, Any]:
    import diffusers  # its lazy module lists every class it has without importing them

    if cls not in dir(diffusers):
        raise ValueError(f"pipeline {cls or '(none named)'} is not one diffusers {diffusers.__version__} has; "
                         "this folder cannot be run")
    return {"family": GENERIC, "family_label": f"{cls} (generic diffusers pipeline)", "inpainting": False,
            "prediction": "flow"}


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


def family_pipelines(family: str | None) -> list[FlowPipeline]:
    """The table's entries of a family (the demo member is Flux; the generic fallback is its own)."""
    name = "flux" if family == "demo-flux" else family
    return [p for p in PIPELINES.values() if p.family == name] or [pipeline_of("")]
