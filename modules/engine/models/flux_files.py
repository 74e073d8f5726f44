"""Flux transformers in Black Forest Labs' release layout (the single files people download): keys both ways
between BFL's layout and diffusers', and the transformer's config read from the weights.

BFL's layout (also under ComfyUI's `model.diffusion_model.` prefix) fuses what diffusers keeps apart: each double
block's q, k and v in one `qkv` matrix, each single block's q, k, v and MLP input in one `linear1`; and its final
modulation stores (shift, scale) where diffusers' AdaLayerNormContinuous expects (scale, shift). diffusers' own
converter assumes Flux.1's width (3072), so files of other widths (our demo member, distilled "lite" models)
need this one. The head size is read from the q/k norm's scale; the rotary axes are Flux.1's (16, 56, 56) for its
128-wide heads, or those named in the file's metadata (`flux.axes_dims_rope`), else the file is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch

from modules.engine.models.flow_families import BFL_PREFIX, flux_keys

__all__ = ["FluxFileError", "bfl_to_diffusers", "config_from_bfl", "describe", "diffusers_to_bfl", "flux_keys",
           "file_message", "strip_prefix"]

FLUX_AXES = (16, 56, 56)  # Flux.1's rotary axes for its 128-wide attention heads
AXES_METADATA = "flux.axes_dims_rope"

# Plain renames: BFL name -> diffusers name (weight and bias alike); {i} is the block index.
_TOP = {
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "txt_in": "context_embedder",
    "img_in": "x_embedder",
    "final_layer.linear": "proj_out",
}
_DOUBLE = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
}
_DOUBLE_NORMS = {
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
}
_DOUBLE_QKV = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
               "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}
_SINGLE = {"modulation.lin": "norm.linear", "linear2": "proj_out"}
_SINGLE_NORMS = {"norm.query_norm.scale": "attn.norm_q.weight", "norm.key_norm.scale": "attn.norm_k.weight"}
_SINGLE_FUSED = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")
_FINAL_MOD = ("final_layer.adaLN_modulation.1", "norm_out.linear")
# Each BFL module -> the diffusers modules it holds (a fused one's rows split among them in this order): the same
# layout for other files written against it, such as LoRAs (engine/models/flow_lora_keys.py).
DOUBLE_MODULES = {**{k: (v,) for k, v in _DOUBLE.items()}, **_DOUBLE_QKV}
SINGLE_MODULES = {**{k: (v,) for k, v in _SINGLE.items()}, "linear1": _SINGLE_FUSED}
GLOBAL_MODULES = {**_TOP, _FINAL_MOD[0]: _FINAL_MOD[1]}


class FluxFileError(ValueError):
    """A Flux transformer file that cannot be read as one; the message says why and what to do."""


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _blocks(keys: list[str], prefix: str) -> int:
    indexes = {int(k.split(".")[1]) for k in keys if k.startswith(prefix)}
    return max(indexes) + 1 if indexes else 0


def strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The transformer's own keys: ComfyUI's `model.diffusion_model.` prefix removed (other parts dropped)."""
    if any(k.startswith(BFL_PREFIX) for k in state_dict):
        return {k.removeprefix(BFL_PREFIX): v for k, v in state_dict.items() if k.startswith(BFL_PREFIX)}
    return dict(state_dict)


def config_from_bfl(state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None,
                    require_axes: bool = True) -> dict[str, Any]:
    """FluxTransformer2DModel's config from BFL-layout weights (prefix already stripped). Without `require_axes`,
    unknown rotary axes are left out rather than refused (enough to tell what the file is)."""
    keys = list(state_dict)
    try:
        img_in = state_dict["img_in.weight"]
        head_dim = int(state_dict["double_blocks.0.img_attn.norm.query_norm.scale"].shape[0])
        config = {
            "patch_size": 1,
            "in_channels": int(img_in.shape[1]),
            "num_layers": _blocks(keys, "double_blocks."),
            "num_single_layers": _blocks(keys, "single_blocks."),
            "attention_head_dim": head_dim,
            "num_attention_heads": int(img_in.shape[0]) // head_dim,
            "joint_attention_dim": int(state_dict["txt_in.weight"].shape[1]),
            "pooled_projection_dim": int(state_dict["vector_in.in_layer.weight"].shape[1]),
            "guidance_embeds": "guidance_in.in_layer.weight" in state_dict,
        }
    except KeyError as exc:
        raise FluxFileError(f"this Flux transformer file lacks {exc.args[0]}: it is incomplete or not Flux") from None
    axes = (metadata or {}).get(AXES_METADATA)
    if axes:
        config["axes_dims_rope"] = tuple(json.loads(axes))
    elif head_dim == 128:
        config["axes_dims_rope"] = FLUX_AXES
    elif not require_axes:
        return config
    else:
        raise FluxFileError(f"its attention heads are {head_dim} wide, unlike Flux.1's 128, and the file does not say "
                            f"how they split into rotary axes (metadata {AXES_METADATA!r}); use its diffusers folder")
    if sum(config["axes_dims_rope"]) != head_dim:
        raise FluxFileError(f"its rotary axes {config['axes_dims_rope']} do not add up to its head size {head_dim}")
    return config


def bfl_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """BFL-layout weights (prefix stripped) -> diffusers' FluxTransformer2DModel keys. Every key is used once;
    one left over means the file is not what its keys suggested."""
    source = dict(state_dict)
    out: dict[str, torch.Tensor] = {}
    inner = config["attention_head_dim"] * config["num_attention_heads"]

    def take(name: str) -> torch.Tensor:
        return source.pop(name)

    def rename(old: str, new: str) -> None:
        for suffix in (".weight", ".bias"):
            if old + suffix in source:
                out[new + suffix] = take(old + suffix)

    for old, new in _TOP.items():
        rename(old, new)
    for suffix in (".weight", ".bias"):
        out[_FINAL_MOD[1] + suffix] = _swap_halves(take(_FINAL_MOD[0] + suffix))
    for i in range(config["num_layers"]):
        old_block, new_block = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for old, new in _DOUBLE.items():
            rename(old_block + old, new_block + new)
        for old, new in _DOUBLE_NORMS.items():
            out[new_block + new] = take(old_block + old)
        for old, news in _DOUBLE_QKV.items():
            for suffix in (".weight", ".bias"):
                for new, part in zip(news, take(old_block + old + suffix).chunk(3, dim=0)):
                    out[new_block + new + suffix] = part
    for i in range(config["num_single_layers"]):
        old_block, new_block = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for old, new in _SINGLE.items():
            rename(old_block + old, new_block + new)
        for old, new in _SINGLE_NORMS.items():
            out[new_block + new] = take(old_block + old)
        for suffix in (".weight", ".bias"):
            fused = take(old_block + "linear1" + suffix)
            parts = fused.split([inner, inner, inner, fused.shape[0] - 3 * inner], dim=0)
            for new, part in zip(_SINGLE_FUSED, parts):
                out[new_block + new + suffix] = part
    if source:
        raise FluxFileError(f"{len(source)} weights of the file are not part of a Flux transformer "
                            f"(such as {sorted(source)[0]}); it is another architecture")
    return out


def diffusers_to_bfl(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The reverse of `bfl_to_diffusers`: how a diffusers Flux transformer is written as a release-layout file."""
    source = dict(state_dict)
    out: dict[str, torch.Tensor] = {}

    def rename(new: str, old: str) -> None:
        for suffix in (".weight", ".bias"):
            if old + suffix in source:
                out[new + suffix] = source.pop(old + suffix)

    for bfl, ours in _TOP.items():
        rename(bfl, ours)
    for suffix in (".weight", ".bias"):
        out[_FINAL_MOD[0] + suffix] = _swap_halves(source.pop(_FINAL_MOD[1] + suffix))
    for i in range(config["num_layers"]):
        bfl_block, block = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for bfl, ours in _DOUBLE.items():
            rename(bfl_block + bfl, block + ours)
        for bfl, ours in _DOUBLE_NORMS.items():
            out[bfl_block + bfl] = source.pop(block + ours)
        for bfl, parts in _DOUBLE_QKV.items():
            for suffix in (".weight", ".bias"):
                out[bfl_block + bfl + suffix] = torch.cat([source.pop(block + p + suffix) for p in parts], dim=0)
    for i in range(config["num_single_layers"]):
        bfl_block, block = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for bfl, ours in _SINGLE.items():
            rename(bfl_block + bfl, block + ours)
        for bfl, ours in _SINGLE_NORMS.items():
            out[bfl_block + bfl] = source.pop(block + ours)
        for suffix in (".weight", ".bias"):
            out[bfl_block + "linear1" + suffix] = torch.cat([source.pop(block + p + suffix) for p in _SINGLE_FUSED])
    if source:
        raise FluxFileError(f"unexpected diffusers Flux weights: {sorted(source)[:3]}")
    return out


def describe(state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the model list says of a Flux transformer file: its variant, layout and storage dtype."""
    weights = strip_prefix(state_dict)
    config = config_from_bfl(weights, metadata, require_axes=False)
    dtype = str(weights["img_in.weight"].dtype).removeprefix("torch.")
    variant = "dev" if config["guidance_embeds"] else "schnell"
    return {"config": config, "variant": variant, "dtype": dtype,
            "label": f"Flux.1 {variant} transformer ({dtype}, {config['num_layers']}+{config['num_single_layers']} "
                     "blocks)"}


def file_message(state_dict: Mapping[str, torch.Tensor]) -> str:
    """What an SD loader says of a Flux transformer file: what it is, and which loader takes it
    (engine/models/flux_single.py, with its text encoders and VAE from models/text_encoder and models/VAE)."""
    try:
        found = describe(state_dict)
    except FluxFileError as exc:
        return f"this looks like a Flux transformer, but {exc}"
    return (f"this is a {found['label']}, not a Stable Diffusion checkpoint: it loads as a Flux file, with its text "
            "encoders and VAE from models/text_encoder and models/VAE")
