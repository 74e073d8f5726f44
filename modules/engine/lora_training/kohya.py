"""The trained adapter as a kohya/A1111 LoRA file: key names, metadata, an atomic write that never replaces an
existing file, and the resumable training state beside the job.

Key names follow kohya's sd-scripts, which A1111, Forge, ComfyUI and diffusers all read: for SD 1.x/2.x the
diffusers module path (`lora_unet_down_blocks_0_attentions_0_proj_in`), for SDXL the original (SGM) block
numbering (`lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`), each with `.lora_down.weight`,
`.lora_up.weight` and `.alpha` (the scale is alpha / rank, as in PEFT)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# kohya's `ss_base_model_version` / modelspec architecture per family (A1111 reads the first to tell SD versions).
BASE_VERSIONS = {"sd1": "sd_v1", "sd2": "sd_v2", "sd2-v": "sd_v2_768_v", "sdxl": "sdxl_base_v1-0", "demo": "demo"}
ARCHITECTURES = {"sd1": "stable-diffusion-v1/lora", "sd2": "stable-diffusion-v2-512/lora",
                 "sd2-v": "stable-diffusion-v2-768-v/lora", "sdxl": "stable-diffusion-xl-v1-base/lora",
                 "demo": "demo/lora"}


class LoraExists(FileExistsError):
    """The target name is taken: a user's LoRA is never overwritten."""


def _sgm_name(module: str, layers_per_block: int) -> str:
    """diffusers module path -> SDXL's original block numbering (each level has `layers_per_block` layers plus a
    down/upsampler in the original UNet's flat block lists)."""
    per_level = layers_per_block + 1
    if m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
        return f"input_blocks.{1 + int(m[1]) * per_level + int(m[2])}.1.{m[3]}"
    if m := re.match(r"mid_block\.attentions\.0\.(.+)", module):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", module):
        return f"output_blocks.{int(m[1]) * per_level + int(m[2])}.1.{m[3]}"
    raise ValueError(f"no SDXL name for the UNet module {module}")


def kohya_name(module: str, family: str, layers_per_block: int = 2) -> str:
    path = _sgm_name(module, layers_per_block) if family == "sdxl" else module
    return "lora_unet_" + path.replace(".", "_")


def to_kohya(layers: dict[str, tuple[torch.Tensor, torch.Tensor]], alpha: float, family: str,
             layers_per_block: int = 2, dtype: torch.dtype = torch.float16,
             text_layers: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
    """{UNet module path: (lora_A weight, lora_B weight)} and the text encoders' {kohya name: (down, up)} ->
    kohya tensors (down = A, up = B)."""
    out: dict[str, torch.Tensor] = {}
    named = [(kohya_name(module, family, layers_per_block), pair) for module, pair in layers.items()]
    for name, (down, up) in named + list((text_layers or {}).items()):
        out[f"{name}.lora_down.weight"] = down.detach().to("cpu", dtype).contiguous()
        out[f"{name}.lora_up.weight"] = up.detach().to("cpu", dtype).contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(alpha), dtype=dtype)
    return out


def metadata(*, name: str, family: str, rank: int, alpha: float, trigger: str, captions: list[str],
             base_name: str, base_hash: str | None, steps: int, settings: dict[str, Any],
             resolution: int) -> dict[str, str]:
    """kohya's `ss_*` fields (A1111's card and `Lora hashes` read them) and the modelspec ones (trigger phrase)."""
    words: dict[str, int] = {}
    for caption in captions:
        for tag in (t.strip() for t in caption.split(",")):
            if tag:
                words[tag] = words.get(tag, 0) + 1
    meta = {
        "ss_output_name": name, "ss_network_module": "networks.lora", "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha), "ss_base_model_version": BASE_VERSIONS.get(family, family),
        "ss_sd_model_name": base_name, "ss_new_sd_model_hash": base_hash or "",
        "ss_sd_model_hash": (base_hash or "")[:8], "ss_num_train_images": str(len(captions)),
        "ss_max_train_steps": str(steps), "ss_steps": str(steps), "ss_resolution": f"({resolution}, {resolution})",
        "ss_learning_rate": str(settings.get("learning_rate")), "ss_unet_lr": str(settings.get("learning_rate")),
        "ss_text_encoder_lr": str(settings.get("text_encoder_lr") or 0.0),
        "ss_network_train_unet_only": str(not settings.get("text_encoder_lr")), "ss_min_snr_gamma": str(settings.get("min_snr_gamma")),
        "ss_training_finished_at": str(int(time.time())), "ss_tag_frequency": json.dumps({"dataset": words}),
        "ss_training_comment": json.dumps(settings, sort_keys=True),
        "modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": ARCHITECTURES.get(family, f"{family}/lora"),
        "modelspec.implementation": "diffusers", "modelspec.title": name,
        "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if trigger:
        meta["modelspec.trigger_phrase"] = trigger
    return meta


def write_lora(tensors: dict[str, torch.Tensor], meta: dict[str, str], target: Path) -> None:
    """Write whole or not at all, and never over an existing file (a hard link fails if the name is taken)."""
    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".safetensors")
    os.close(fd)
    try:
        save_file(tensors, temp, metadata=meta)
        try:
            os.link(temp, target)
        except FileExistsError:
            raise LoraExists(f"{target.name} already exists") from None
        except OSError:  # a filesystem without hard links: check, then rename (a race is then possible)
            if target.exists():
                raise LoraExists(f"{target.name} already exists") from None
            os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)


def save_state(state: dict[str, Any], path: Path) -> None:
    """The resumable training state (adapter, EMA, optimizer, losses), written whole (temp file, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    torch.save(state, temp)
    os.replace(temp, path)


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
