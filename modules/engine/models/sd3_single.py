"""An SD 3 / 3.5 pipeline from single files: the MMDiT transformer in Stability's release layout (`joint_blocks.N.*`,
`x_embedder`, `context_embedder`, `pos_embed`, bare or under `model.diffusion_model.`; bf16, fp16 or fp8), alone or
in an all-in-one file that also carries `text_encoders.clip_l/clip_g/t5xxl` and `first_stage_model.`, plus the
CLIP-L, CLIP-G, T5-XXL and VAE files the user chose or that fit (engine/models/module_files.py).

The variant (3 Medium; 3.5 Medium with its extra self-attention layers; 3.5 Large) and the transformer's whole config
come from the weights' shapes; diffusers' own converter maps the keys. Each part's config is the first of these whose
shapes match: our shipped ones (CLIP-L and T5-XXL with their tokenizers from `configs/flux/`, CLIP-G from
`configs/sdxl/text_encoder_2` and `tokenizer_2`, SD 3.x's VAE and scheduler from `configs/sd3/`), then the SD 3.x
diffusers folders in models/Stable-diffusion. The VAE's config is looked up among SD 3.x's only: Flux's VAE has the same
shapes but another latent scale and shift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from modules.engine.models import flux_single
from modules.engine.models.flow_families import BFL_PREFIX, sd3_label
from modules.engine.models.flux_files import strip_prefix
from modules.engine.models.flux_single import FluxPartsError, find_config, read_weights
from modules.engine.models.module_files import ModuleInfo, clip_shape, read_header
from modules.engine.models.module_files import t5_shape, vae_shape

CONFIGS = flux_single.CONFIGS
SHIPPED = CONFIGS / "sd3"
ROLES = ("clip", "clip_g", "t5", "vae")
PIPELINE = "StableDiffusion3Pipeline"
# What each part needs, said as a user finds the files (Stability's and ComfyUI's names).
WANTED = {"clip": "a CLIP-L text encoder (clip_l.safetensors) in models/text_encoder",
          "clip_g": "a CLIP-G text encoder (clip_g.safetensors) in models/text_encoder",
          "t5": "a T5-XXL text encoder (t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors) in models/text_encoder",
          "vae": "the SD 3.x VAE (16 channels) in models/VAE"}
# slot -> (subfolder of a diffusers folder, its tokenizer's), and where our shipped config and tokenizer are.
_PART = {"clip": ("text_encoder", "tokenizer"), "clip_g": ("text_encoder_2", "tokenizer_2"),
         "t5": ("text_encoder_3", "tokenizer_3"), "vae": ("vae", None)}
_SHIPPED = {"clip": (CONFIGS / "flux" / "text_encoder", CONFIGS / "flux" / "tokenizer"),
            "clip_g": (CONFIGS / "sdxl" / "text_encoder_2", CONFIGS / "sdxl" / "tokenizer_2"),
            "t5": (CONFIGS / "flux" / "text_encoder_2", CONFIGS / "flux" / "tokenizer_2"),
            "vae": (SHIPPED / "vae", None)}
# Where an all-in-one file keeps each part; the prefix names the part (a tiny or odd width cannot).
_EMBEDDED = (("text_encoders.clip_l.transformer.", clip_shape, "clip-l", "CLIP-L"),
             ("text_encoders.clip_g.transformer.", clip_shape, "clip-g", "CLIP-G"),
             ("text_encoders.t5xxl.transformer.", t5_shape, None, None),
             ("first_stage_model.", vae_shape, None, None))
MMDIT_HEAD = 64  # SD 3.x's attention heads are 64 wide; without q/k norms (SD 3 Medium) nothing else says so


class Sd3FileError(ValueError):
    """A file that looks like an SD 3.x transformer but cannot be read as one; the message says why."""


@dataclass(frozen=True)
class Sd3File:
    """What an SD 3.x single file holds: the transformer's config, and the parts it carries itself."""

    config: dict[str, Any]
    dtype: str
    embedded: tuple[ModuleInfo, ...] = ()
    slots = ROLES

    @property
    def variant(self) -> str:
        return sd3_label(self.config)

    @property
    def label(self) -> str:
        return f"{self.variant} transformer ({self.dtype}){flux_single.carried(self.embedded)}"

    def wanted(self, role: str) -> str:
        return WANTED[role]

    def fits(self, module: ModuleInfo) -> bool:
        """Whether a module fits this transformer in its role (CLIP-L and CLIP-G are told apart by their role)."""
        if module.role == "clip":
            return module.shape[1] < self.config["pooled_projection_dim"]
        if module.role == "clip_g":
            return module.projection is None or module.projection < self.config["pooled_projection_dim"]
        if module.role == "t5":
            return module.shape[1] == self.config["joint_attention_dim"]
        if module.role == "vae":
            return module.shape[0] == self.config["in_channels"]
        return False


def is_sd3_keys(keys: Iterable[str]) -> bool:
    stripped = {k.removeprefix(BFL_PREFIX) for k in keys}
    return "x_embedder.proj.weight" in stripped and any(k.startswith("joint_blocks.") for k in stripped)


def config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    """SD3Transformer2DModel's config from release-layout shapes (prefix stripped)."""
    try:
        hidden, in_channels, patch = (int(n) for n in shapes["x_embedder.proj.weight"][:3])
        ln_q = shapes.get("joint_blocks.0.x_block.attn.ln_q.weight")
        head = int(ln_q[0]) if ln_q else MMDIT_HEAD
        positions = int(shapes["pos_embed"][1])
        context = shapes["context_embedder.weight"]
        layers = {int(m.group(1)) for k in shapes if (m := re.match(r"joint_blocks\.(\d+)\.", k))}
        dual = sorted({int(m.group(1)) for k in shapes if (m := re.match(r"joint_blocks\.(\d+)\.x_block\.attn2\.", k))})
        config = {
            "sample_size": 128,  # only the pipeline's default size; every released SD 3.x says 128
            "patch_size": patch,
            "in_channels": in_channels,
            "num_layers": max(layers) + 1,
            "attention_head_dim": head,
            "num_attention_heads": hidden // head,
            "joint_attention_dim": int(context[1]),
            "caption_projection_dim": int(context[0]),
            "pooled_projection_dim": int(shapes["y_embedder.mlp.0.weight"][1]),
            "out_channels": int(shapes["final_layer.linear.weight"][0]) // (patch * patch),
            "pos_embed_max_size": math.isqrt(positions),
            "dual_attention_layers": tuple(dual),
            "qk_norm": "rms_norm" if ln_q else None,
        }
    except (KeyError, ValueError) as exc:
        raise Sd3FileError(f"this SD 3.x transformer file lacks {exc.args[0]}: it is incomplete or another model") \
            from None
    if hidden % head or config["pos_embed_max_size"] ** 2 != positions:
        raise Sd3FileError(f"its widths do not fit SD 3.x's MMDiT (width {hidden}, heads {head} wide, {positions} "
                           "positions)")
    return config


def describe(path: Path) -> Sd3File:
    """An SD 3.x single file's facts from its header (Sd3FileError when it is not one we can run)."""
    shapes, dtypes, _ = read_header(path)
    own = strip_prefix(shapes)
    if not is_sd3_keys(own):
        raise Sd3FileError("it holds no SD 3.x transformer (no joint_blocks)")
    embedded = []
    if any(k.startswith(BFL_PREFIX) for k in shapes):
        for prefix, probe, kind, what in _EMBEDDED:
            if probe(shapes, prefix) is None:
                continue
            module = flux_single.embedded_part(path, shapes, dtypes, prefix)
            if kind is not None:
                module = replace(module, kind=kind, label=f"{what} text encoder ({module.dtype})")
            embedded.append(module)
    return Sd3File(config_from_shapes(own), flux_single.transformer_dtype(shapes, dtypes), tuple(embedded))


def choose_parts(facts: Sd3File, chosen: Sequence[ModuleInfo], available: Sequence[ModuleInfo],
                 file_name: str) -> dict[str, ModuleInfo]:
    """CLIP-L, CLIP-G, T5 and VAE as flux_single.choose_parts picks them; the two CLIPs' pooled widths (CLIP-L's
    own width, CLIP-G's projection) must add up to what the transformer takes."""
    parts = flux_single.choose_parts(facts, chosen, available, file_name)
    clip_l, clip_g = parts["clip"], parts["clip_g"]
    if clip_g.projection is None:
        raise FluxPartsError(f"{clip_g.name} ({clip_g.label}) has no text projection, which SD 3.x pools its prompt "
                             "through; use the clip_g.safetensors released with SD 3.x (it has text_projection)")
    if clip_l.shape[1] + clip_g.projection != facts.config["pooled_projection_dim"]:
        raise FluxPartsError(f"{clip_l.name} and {clip_g.name} pool {clip_l.shape[1]} + {clip_g.projection} "
                             f"values, but {file_name} takes {facts.config['pooled_projection_dim']}: they are not "
                             "SD 3.x's CLIP-L and CLIP-G")
    return parts


def folders(candidates: Iterable[Path]) -> list[Path]:
    """The SD 3.x diffusers folders among these (their configs and tokenizers may serve single files)."""
    return flux_single.pipeline_folders(candidates, (PIPELINE,))


def config_source(role: str, module: ModuleInfo, sd3_folders: Sequence[Path]) -> tuple[Path, Path | None]:
    """(config folder, tokenizer folder) for this part: ours first, then the SD 3.x folders'."""
    sub, tok = _PART[role]
    candidates = [_SHIPPED[role], *((f / sub, f / tok if tok else None) for f in sd3_folders)]
    return find_config(role, module, candidates, "SD 3.x's shipped configs nor any SD 3.x diffusers folder in "
                                                 "models/Stable-diffusion")


def scheduler_source(facts: Sd3File, sd3_folders: Sequence[Path]) -> Path:
    """A diffusers folder when its transformer is this very one, else ours: SD 3.5's scheduler (flow matching,
    shift 3)."""
    folder = flux_single.same_transformer_folder(facts.config, sd3_folders, ignore=("sample_size",))
    return folder if folder is not None else SHIPPED


def load_transformer(path: Path, config: Mapping[str, Any], dtype: torch.dtype) -> Any:
    """The MMDiT with the file's weights converted by diffusers' own converter (fp8 weights kept fp8), assigned
    into a model built without memory."""
    from accelerate import init_empty_weights
    from diffusers import SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    shapes, _, _ = read_header(path)
    prefix = BFL_PREFIX if any(k.startswith(BFL_PREFIX) for k in shapes) else ""
    weights = read_weights(path, prefix, dtype)
    converted = convert_sd3_transformer_checkpoint_to_diffusers(weights)  # pops what it converts from `weights`
    if weights:
        raise Sd3FileError(f"{len(weights)} weights of {path.name} are not part of an SD 3.x transformer (such as "
                           f"{sorted(weights)[0]}); it is another architecture")
    with init_empty_weights(include_buffers=True):  # pos_embed too: SD 3.5 Medium's would take 0.9 GB to make
        model = SD3Transformer2DModel.from_config(dict(config))
    flux_single._assign(model, converted, path.name)
    left = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise Sd3FileError(f"{path.name} lacks {left[0]}, which SD 3.x's transformer needs")
    return model.eval()


def load_pipeline(path: Path, parts: Mapping[str, ModuleInfo], sd3_folders: Sequence[Path],
                  dtype: torch.dtype) -> Any:
    """A StableDiffusion3Pipeline from a transformer file and its parts (as `choose_parts` picked them)."""
    from diffusers import StableDiffusion3Pipeline

    facts = describe(path)
    components: dict[str, Any] = {"transformer": load_transformer(path, facts.config, dtype)}
    for role in ("clip", "clip_g", "t5"):
        config_dir, tokenizer_dir = config_source(role, parts[role], sd3_folders)
        sub, tok = _PART[role]
        # SD 3.x pools CLIP-L unprojected: diffusers gives its single-file CLIP-L an identity projection, whatever
        # projection the file has (ComfyUI's clip_l.safetensors carries OpenAI's, all-in-one files none).
        width = parts[role].shape[1]
        override = {"text_projection.weight": torch.eye(width, dtype=dtype)} if role == "clip" else None
        components[sub] = flux_single.load_text_encoder_at(role, parts[role], config_dir, dtype,
                                                           projection=role != "t5", override=override)
        components[tok] = flux_single.load_tokenizer_at(role, tokenizer_dir)
    vae_dir, _ = config_source("vae", parts["vae"], sd3_folders)
    components["vae"] = flux_single.load_vae(parts["vae"], vae_dir.parent, dtype)
    components["scheduler"] = flux_single.load_scheduler(scheduler_source(facts, sd3_folders))
    return StableDiffusion3Pipeline(**components)


def is_sd3_file(path: Path) -> bool:
    """Whether a safetensors file holds an SD 3.x transformer in the release layout (header only)."""
    try:
        shapes, _, _ = read_header(path)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the checkpoint reader
        return False
    return is_sd3_keys(shapes)


__all__ = ["Sd3File", "Sd3FileError", "choose_parts", "describe", "folders", "is_sd3_file", "load_pipeline"]
