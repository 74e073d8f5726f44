"""A Chroma pipeline from single files: the transformer in lodestones' release layout (Flux's double and single
blocks, without `guidance_in`, `vector_in` or per-block modulation; a `distilled_guidance_layer` makes every block's
modulation from the timestep), bare or under `model.diffusion_model.`, plus a T5-XXL file and the Flux VAE.

diffusers' own converter maps the keys of Chroma's width (3072, every release); a file of another width (our tiny
test models) is split by its own width with the same mapping. T5's config and tokenizer and the VAE's config are
Flux.1's shipped ones (`configs/flux/`), else those of a Chroma diffusers folder in models/Stable-diffusion whose
shapes match. The scheduler is such a folder's when its transformer is this very one, else Flux.1 dev's (flow
matching with the resolution-dependent shift).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine.models import flux_single
from modules.engine.models.flow_families import BFL_PREFIX
from modules.engine.models.flux_files import AXES_METADATA, FLUX_AXES, strip_prefix
from modules.engine.models.flux_single import find_config, read_weights
from modules.engine.models.module_files import ModuleInfo, read_header
from modules.engine.models.module_files import t5_shape, vae_shape

CONFIGS = flux_single.CONFIGS
ROLES = ("t5", "vae")
PIPELINE = "ChromaPipeline"
WANTED = {"t5": flux_single.WANTED["t5"], "vae": "the Flux VAE (ae.safetensors) in models/VAE"}
_PART = {"t5": ("text_encoder", "tokenizer"), "vae": ("vae", None)}
_SHIPPED = {"t5": (CONFIGS / "flux" / "text_encoder_2", CONFIGS / "flux" / "tokenizer_2"),
            "vae": (CONFIGS / "flux" / "vae", None)}
_EMBEDDED = (("text_encoders.t5xxl.transformer.", t5_shape), ("first_stage_model.", vae_shape), ("vae.", vae_shape))
CHROMA_WIDTH = 3072  # the width diffusers' converter assumes
# lodestones' names -> diffusers' (weight and bias alike); {i} is a block index.
_TOP = {"txt_in": "context_embedder", "img_in": "x_embedder", "final_layer.linear": "proj_out",
        "distilled_guidance_layer.in_proj": "distilled_guidance_layer.in_proj",
        "distilled_guidance_layer.out_proj": "distilled_guidance_layer.out_proj"}
_GUIDANCE = {"in_layer": "linear_1", "out_layer": "linear_2"}
_DOUBLE = {"img_attn.proj": "attn.to_out.0", "txt_attn.proj": "attn.to_add_out", "img_mlp.0": "ff.net.0.proj",
           "img_mlp.2": "ff.net.2", "txt_mlp.0": "ff_context.net.0.proj", "txt_mlp.2": "ff_context.net.2"}
_DOUBLE_NORMS = {"img_attn.norm.query_norm.scale": "attn.norm_q.weight",
                 "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
                 "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
                 "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight"}
_DOUBLE_QKV = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
               "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}
_SINGLE_NORMS = {"norm.query_norm.scale": "attn.norm_q.weight", "norm.key_norm.scale": "attn.norm_k.weight"}
_SINGLE_FUSED = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")


class ChromaFileError(ValueError):
    """A file that looks like a Chroma transformer but cannot be read as one; the message says why."""


@dataclass(frozen=True)
class ChromaFile:
    """What a Chroma single file holds: the transformer's config, and the parts it carries itself."""

    config: dict[str, Any]
    dtype: str
    embedded: tuple[ModuleInfo, ...] = ()
    slots = ROLES

    @property
    def label(self) -> str:
        return (f"Chroma transformer ({self.dtype}, {self.config['num_layers']}+{self.config['num_single_layers']} "
                f"blocks){flux_single.carried(self.embedded)}")

    def wanted(self, role: str) -> str:
        return WANTED[role]

    def fits(self, module: ModuleInfo) -> bool:
        if module.role == "t5":
            return module.shape[1] == self.config["joint_attention_dim"]
        if module.role == "vae":
            return module.shape[0] * 4 == self.config["in_channels"]
        return False


def is_chroma_keys(keys: Iterable[str]) -> bool:
    stripped = {k.removeprefix(BFL_PREFIX) for k in keys}
    return ("distilled_guidance_layer.in_proj.weight" in stripped
            and any(k.startswith("double_blocks.") for k in stripped))


def _count(keys: Iterable[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def config_from_shapes(shapes: Mapping[str, tuple[int, ...]], metadata: Mapping[str, str] | None = None
                       ) -> dict[str, Any]:
    """ChromaTransformer2DModel's config from release-layout shapes (prefix stripped). Rotary axes are Flux.1's for
    128-wide heads, else those named in the file's metadata (`flux.axes_dims_rope`), as for Flux files."""
    try:
        hidden, in_channels = (int(n) for n in shapes["img_in.weight"][:2])
        head = int(shapes["double_blocks.0.img_attn.norm.query_norm.scale"][0])
        guidance = shapes["distilled_guidance_layer.in_proj.weight"]
        out = int(shapes["final_layer.linear.weight"][0])
        config = {
            "patch_size": 1,
            "in_channels": in_channels,
            "out_channels": None if out == in_channels else out,
            "num_layers": _count(shapes, r"double_blocks\.(\d+)\."),
            "num_single_layers": _count(shapes, r"single_blocks\.(\d+)\."),
            "attention_head_dim": head,
            "num_attention_heads": hidden // head,
            "joint_attention_dim": int(shapes["txt_in.weight"][1]),
            "approximator_num_channels": int(guidance[1]),
            "approximator_hidden_dim": int(guidance[0]),
            "approximator_layers": _count(shapes, r"distilled_guidance_layer\.layers\.(\d+)\."),
        }
    except KeyError as exc:
        raise ChromaFileError(f"this Chroma transformer file lacks {exc.args[0]}: it is incomplete or another "
                              "model") from None
    axes = (metadata or {}).get(AXES_METADATA)
    if axes:
        config["axes_dims_rope"] = tuple(json.loads(axes))
    elif head == 128:
        config["axes_dims_rope"] = FLUX_AXES
    else:
        raise ChromaFileError(f"its attention heads are {head} wide, unlike Chroma's 128, and the file does not say "
                              f"how they split into rotary axes (metadata {AXES_METADATA!r})")
    if sum(config["axes_dims_rope"]) != head:
        raise ChromaFileError(f"its rotary axes {config['axes_dims_rope']} do not add up to its head size {head}")
    return config


def describe(path: Path) -> ChromaFile:
    shapes, dtypes, metadata = read_header(path)
    own = strip_prefix(shapes)
    if not is_chroma_keys(own):
        raise ChromaFileError("it holds no Chroma transformer (no distilled_guidance_layer)")
    embedded = []
    if any(k.startswith(BFL_PREFIX) for k in shapes):
        for prefix, probe in _EMBEDDED:
            if probe(shapes, prefix) is None or any(m.role == "vae" for m in embedded) and probe is vae_shape:
                continue
            embedded.append(flux_single.embedded_part(path, shapes, dtypes, prefix))
    dtype = flux_single.transformer_dtype(shapes, dtypes)
    return ChromaFile(config_from_shapes(own, metadata), dtype, tuple(embedded))


def choose_parts(facts: ChromaFile, chosen: Sequence[ModuleInfo], available: Sequence[ModuleInfo],
                 file_name: str) -> dict[str, ModuleInfo]:
    return flux_single.choose_parts(facts, chosen, available, file_name)


def folders(candidates: Iterable[Path]) -> list[Path]:
    """The Chroma diffusers folders among these (their configs and tokenizers may serve single files)."""
    return flux_single.pipeline_folders(candidates, (PIPELINE,))


def config_source(role: str, module: ModuleInfo, chroma_folders: Sequence[Path]) -> tuple[Path, Path | None]:
    sub, tok = _PART[role]
    candidates = [_SHIPPED[role], *((f / sub, f / tok if tok else None) for f in chroma_folders)]
    return find_config(role, module, candidates, "Flux.1's shipped configs nor any Chroma diffusers folder in "
                                                 "models/Stable-diffusion")


def scheduler_source(facts: ChromaFile, chroma_folders: Sequence[Path]) -> Path:
    """A Chroma folder when its transformer is this very one, else Flux.1 dev's scheduler (resolution-dependent
    shift): Chroma1-HD's own scheduler config could not be checked offline, so none ships."""
    folder = flux_single.same_transformer_folder(facts.config, chroma_folders)
    return folder if folder is not None else CONFIGS / "flux"


def to_diffusers(weights: dict[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Release-layout weights (prefix stripped) -> diffusers' keys: diffusers' converter at Chroma's width, the same
    mapping split by the file's own width otherwise. Every key is used once; one left over is refused."""
    from diffusers.loaders.single_file_utils import convert_chroma_transformer_checkpoint_to_diffusers

    source = dict(weights)
    inner = config["attention_head_dim"] * config["num_attention_heads"]
    if inner == CHROMA_WIDTH:
        out = convert_chroma_transformer_checkpoint_to_diffusers(source)  # pops what it converts
    else:
        out = convert_any_width(source, config)
    if source:
        raise ChromaFileError(f"{len(source)} weights of the file are not part of a Chroma transformer (such as "
                              f"{sorted(source)[0]}); it is another architecture")
    return out


def convert_any_width(source: dict[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """diffusers' Chroma mapping for any width (its converter fixes 3072); pops what it converts from `source`."""
    out: dict[str, torch.Tensor] = {}
    inner = config["attention_head_dim"] * config["num_attention_heads"]

    def rename(old: str, new: str) -> None:
        for suffix in (".weight", ".bias"):
            out[new + suffix] = source.pop(old + suffix)

    for old, new in _TOP.items():
        rename(old, new)
    for i in range(config["approximator_layers"]):
        for old, new in _GUIDANCE.items():
            rename(f"distilled_guidance_layer.layers.{i}.{old}", f"distilled_guidance_layer.layers.{i}.{new}")
        out[f"distilled_guidance_layer.norms.{i}.weight"] = source.pop(f"distilled_guidance_layer.norms.{i}.scale")
    for i in range(config["num_layers"]):
        old_block, new_block = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for old, new in _DOUBLE.items():
            rename(old_block + old, new_block + new)
        for old, new in _DOUBLE_NORMS.items():
            out[new_block + new] = source.pop(old_block + old)
        for old, news in _DOUBLE_QKV.items():
            for suffix in (".weight", ".bias"):
                for new, part in zip(news, source.pop(old_block + old + suffix).chunk(3, dim=0)):
                    out[new_block + new + suffix] = part
    for i in range(config["num_single_layers"]):
        old_block, new_block = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        rename(old_block + "linear2", new_block + "proj_out")
        for old, new in _SINGLE_NORMS.items():
            out[new_block + new] = source.pop(old_block + old)
        for suffix in (".weight", ".bias"):
            fused = source.pop(old_block + "linear1" + suffix)
            for new, part in zip(_SINGLE_FUSED, fused.split([inner, inner, inner, fused.shape[0] - 3 * inner])):
                out[new_block + new + suffix] = part
    return out


def load_transformer(path: Path, config: Mapping[str, Any], dtype: torch.dtype) -> Any:
    from accelerate import init_empty_weights
    from diffusers import ChromaTransformer2DModel

    shapes, _, _ = read_header(path)
    prefix = BFL_PREFIX if any(k.startswith(BFL_PREFIX) for k in shapes) else ""
    weights = to_diffusers(read_weights(path, prefix, dtype), config)
    full = {**config, "axes_dims_rope": list(config["axes_dims_rope"])}
    with init_empty_weights():
        model = ChromaTransformer2DModel.from_config(full)
    flux_single._assign(model, weights, path.name)
    return model.eval()


def load_pipeline(path: Path, parts: Mapping[str, ModuleInfo], chroma_folders: Sequence[Path],
                  dtype: torch.dtype) -> Any:
    """A ChromaPipeline from a transformer file, its T5 and its VAE (as `choose_parts` picked them)."""
    from diffusers import ChromaPipeline

    facts = describe(path)
    transformer = load_transformer(path, facts.config, dtype)
    config_dir, tokenizer_dir = config_source("t5", parts["t5"], chroma_folders)
    text_encoder = flux_single.load_text_encoder_at("t5", parts["t5"], config_dir, dtype)
    tokenizer = flux_single.load_tokenizer_at("t5", tokenizer_dir)
    vae_dir, _ = config_source("vae", parts["vae"], chroma_folders)
    vae = flux_single.load_vae(parts["vae"], vae_dir.parent, dtype)
    scheduler = flux_single.load_scheduler(scheduler_source(facts, chroma_folders))
    return ChromaPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                          transformer=transformer, image_encoder=None, feature_extractor=None)


__all__ = ["ChromaFile", "ChromaFileError", "choose_parts", "describe", "folders", "load_pipeline", "to_diffusers"]
