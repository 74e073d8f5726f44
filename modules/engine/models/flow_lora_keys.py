"""The key formats of LoRAs for the flow-matching transformers: which family a file is for (from its key names and
shapes alone, as the LoRA list shows it), and BFL-layout Flux LoRAs renamed to diffusers' module names.

Flux LoRAs come in four layouts: kohya's (`lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight`, with
`.alpha`), ComfyUI's/BFL's (`diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight`), ai-toolkit's and
diffusers' (`transformer.transformer_blocks.0.attn.to_q.lora_A.weight`) and PEFT's own
(`base_model.model.transformer_blocks...`). diffusers reads the last two, and kohya's only at Flux.1's full width
(its converter has 3072 written in), so the BFL layouts are converted here, at the width of the transformer they
are loaded into: BFL fuses q, k and v (and, in single blocks, the MLP input) into one layer whose LoRA has one
down matrix, so the up matrix is split by rows and the down matrix shared.
"""

from __future__ import annotations

import re
from typing import Any

from modules.engine.models import flux_files

FLUX_WIDTH = 3072  # Flux.1's (and Chroma's) inner width; Qwen-Image has it too
SD3_WIDTHS = {1536: "sd3", 2432: "sd3"}  # SD 3 / 3.5 Medium, 3.5 Large
FLUX_DOUBLE_BLOCKS = 19  # Flux.1's double-stream blocks; Qwen-Image's 60 blocks use the same attention names

_PREFIXES = ("base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer.", "lora_unet_",
             "lora_transformer_", "unet.")
_LORA_PARTS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", ".alpha", ".hada_", ".lokr_", ".diff")


def _module_of(key: str) -> str:
    for part in _LORA_PARTS:
        if part in key or key.endswith(part.rstrip(".")):
            return key.split(part.rstrip("."))[0].rstrip(".")
    return key


def _bare(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def flow_family(shapes: dict[str, list[int]], metadata: dict[str, str]) -> str | None:
    """'flux', 'chroma', 'sd3', 'zimage', 'qwen-image' or 'demo-flux' for a LoRA of a flow transformer; None when
    the keys are not a flow transformer's (an SD LoRA, or a layout we do not know)."""
    if metadata.get("ss_base_model_version") == "demo-flux":
        return "demo-flux"
    bare = [_bare(k) for k in shapes]
    text = "\n".join(bare)
    if "noise_refiner" in text or "context_refiner" in text or re.search(r"(^|\n)layers[._]\d+[._]attention", text):
        return "zimage"
    if "joint_blocks" in text or re.search(r"context_block|x_block", text):
        return "sd3"
    if "distilled_guidance_layer" in text:
        return "chroma"
    if re.search(r"(^|\n)(double_blocks|single_blocks)[._]\d+", text) or "single_transformer_blocks" in text:
        return "flux"
    if re.search(r"transformer_blocks[._]\d+[._](img_mlp|txt_mlp|img_mod|txt_mod)", text):
        return "qwen-image"
    widths = [shape[1] for key, shape in shapes.items()
              if re.search(r"transformer_blocks[._]\d+[._]attn[._](add_)?(to_)?q(_proj)?\.(lora_down|lora_A)\.weight$", key)
              and len(shape) == 2]
    if not widths:
        return None
    blocks = [int(m.group(1)) for k in bare for m in [re.match(r"transformer_blocks[._](\d+)", k)] if m]
    if widths[0] in SD3_WIDTHS:
        return SD3_WIDTHS[widths[0]]
    if widths[0] == FLUX_WIDTH:
        return "qwen-image" if blocks and max(blocks) >= FLUX_DOUBLE_BLOCKS else "flux"
    return None


# ----------------------------------------------------------------------------------- BFL -> diffusers (Flux)

# BFL module (within a block) -> diffusers modules it holds, and how its output rows split among them: the
# weights' own layout (flux_files), which a LoRA of that layout follows.
_DOUBLE, _SINGLE, _GLOBAL = flux_files.DOUBLE_MODULES, flux_files.SINGLE_MODULES, flux_files.GLOBAL_MODULES
# kohya writes BFL's module paths with underscores: these are the dotted leaves to put back.
_KOHYA_LEAVES = sorted([*_DOUBLE, *_SINGLE, *_GLOBAL], key=len, reverse=True)


def is_bfl_layout(keys: Any) -> bool:
    return any(re.match(r"(double_blocks|single_blocks)[._]\d+", _bare(k)) for k in keys)


def _bfl_module(kohya_or_bfl: str) -> str:
    """'double_blocks_0_img_attn_qkv' or 'double_blocks.0.img_attn.qkv' -> 'double_blocks.0.img_attn.qkv'."""
    name = _bare(kohya_or_bfl)
    match = re.match(r"(double_blocks|single_blocks)[._](\d+)[._](.+)$", name)
    head, rest = (f"{match.group(1)}.{match.group(2)}.", match.group(3)) if match else ("", name)
    for leaf in _KOHYA_LEAVES:
        if rest in (leaf, leaf.replace(".", "_")):
            return head + leaf
    return head + rest


def _split_sizes(targets: tuple[str, ...], rows: int, width: int) -> list[int]:
    if len(targets) == 1:
        return [rows]
    if len(targets) == 3:
        return [width] * 3
    return [width] * 3 + [rows - 3 * width]  # single blocks: q, k, v and the MLP's input


def bfl_to_diffusers(state_dict: dict[str, Any], width: int) -> dict[str, Any]:
    """A kohya or ComfyUI/BFL Flux LoRA as diffusers' `transformer.<module>.lora_A/B.weight` keys, alpha folded in
    (down × alpha/rank), for a transformer of inner `width`. Text-encoder keys (kohya's `lora_te1_`) go to
    diffusers' own converter unchanged. Raises ValueError naming a key it cannot place."""
    import torch

    modules: dict[str, dict[str, Any]] = {}
    passthrough: dict[str, Any] = {}
    for key, value in state_dict.items():
        if key.startswith(("lora_te", "text_encoder")):
            passthrough[key] = value
            continue
        module = _module_of(key)
        part = key[len(module) + 1:]
        kind = ("down" if part.startswith(("lora_down", "lora_A")) else "up" if part.startswith(("lora_up", "lora_B"))
                else "alpha" if part == "alpha" else None)
        if kind is None:
            raise ValueError(f"the key {key!r} is not a LoRA weight this loader knows (lora_down/up, lora_A/B, alpha)")
        modules.setdefault(_bfl_module(module), {})[kind] = value
    out: dict[str, Any] = {}
    for module, parts in modules.items():
        if "down" not in parts or "up" not in parts:
            raise ValueError(f"the LoRA layer {module!r} lacks its down or up matrix")
        down, up = parts["down"], parts["up"]
        rank = down.shape[0]
        scale = float(parts["alpha"]) / rank if "alpha" in parts else 1.0
        block = re.match(r"(double_blocks|single_blocks)\.(\d+)\.(.+)$", module)
        if block:
            table = _DOUBLE if block.group(1) == "double_blocks" else _SINGLE
            targets = table.get(block.group(3))
            prefix = ("transformer_blocks." if block.group(1) == "double_blocks" else "single_transformer_blocks.") \
                + block.group(2) + "."
        else:
            targets = (_GLOBAL[module],) if module in _GLOBAL else None
            prefix = ""
        if targets is None:
            raise ValueError(f"the LoRA layer {module!r} is not a Flux transformer layer")
        if module == "final_layer.adaLN_modulation.1":  # BFL orders it (shift, scale), diffusers (scale, shift)
            shift, scale_rows = up.chunk(2, dim=0)
            up = torch.cat([scale_rows, shift], dim=0)
        for target, piece in zip(targets, torch.split(up, _split_sizes(targets, up.shape[0], width), dim=0)):
            out[f"transformer.{prefix}{target}.lora_A.weight"] = (down * scale).contiguous()
            out[f"transformer.{prefix}{target}.lora_B.weight"] = piece.contiguous()
    if passthrough:
        from diffusers.loaders.lora_conversion_utils import _convert_kohya_flux_lora_to_diffusers

        out.update(_convert_kohya_flux_lora_to_diffusers(passthrough))
    return out


def normalise(state_dict: dict[str, Any], width: int) -> dict[str, Any]:
    """Any of the four Flux layouts (and the other families' diffusers/PEFT files) as keys diffusers loads."""
    if is_bfl_layout(state_dict):
        return bfl_to_diffusers(state_dict, width)
    if any(k.startswith("base_model.model.") for k in state_dict):  # PEFT's save_pretrained layout
        return {"transformer." + k.removeprefix("base_model.model."): v for k, v in state_dict.items()}
    return state_dict
