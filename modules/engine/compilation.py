"""`--compile`: the CUDA-only, opt-in speed-ups of a loaded model's denoiser (UNet or transformer), decided per
model with a reason that goes into the log and every job's details.

- Regional compilation: torch.compile of the one block class the denoiser repeats (diffusers'
  `compile_repeated_blocks`, or the UNet's transformer blocks where a model does not name them), not the whole
  model: the same speed-up once warm, at a first-call cost of one block's compilation instead of the model's.
- channels_last for a UNet (its convolutions run faster in that layout on tensor cores; a transformer has none).
- TF32 matmuls for whatever still computes in float32 (process-wide, set once at start).

Why CUDA only: measured on this project's CPU, torch.compile gave no gain at 512 px and cost 100-376 s of
compilation per picture size (shared/NOTES-diffusers.md), so on the CPU the flag is refused at start; on other
devices (MPS) it is skipped with the reason logged.

Not applied, on purpose: fused QKV projections (`fuse_qkv_projections`). The fused attention processor reads a
concatenated copy of the q/k/v weights, so LoRA adapters (hooked into the separate projections) and LoRAs fused into
the weights would be silently left out of every picture; the app applies LoRAs per job, so the few percent fusing
saves are not worth a LoRA that does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

# The repeated block of a UNet when the model class does not name its own (`_repeated_blocks`).
_UNET_BLOCKS = ("BasicTransformerBlock",)


class CompileError(ValueError):
    """--compile asked of a device it cannot help; the message says what to do."""


@dataclass(frozen=True)
class CompilePlan:
    """What `--compile` does to one loaded model, and why (shown in the job's details)."""

    compile_blocks: tuple[str, ...] = ()  # block class names compiled one by one (regional compilation)
    channels_last: bool = False
    reason: str = ""

    @property
    def active(self) -> bool:
        return bool(self.compile_blocks) or self.channels_last

    def describe(self) -> str:
        if not self.active:
            return f"not compiled: {self.reason}"
        done = []
        if self.compile_blocks:
            done.append(f"regional torch.compile of {', '.join(self.compile_blocks)}")
        if self.channels_last:
            done.append("channels_last")
        return f"compiled ({'; '.join(done)}): {self.reason}"


def check_flag(requested: bool, device_type: str) -> str:
    """At start: refuse --compile on the CPU, with why; otherwise the sentence for the startup log."""
    if not requested:
        return ""
    if device_type == "cpu":
        raise CompileError("--compile needs a CUDA GPU, and this app runs on the CPU. torch.compile of the "
                           "denoiser measured no gain on a CPU at 512 px and costs minutes of compilation for "
                           "every picture size; remove --compile (on the CPU, bf16 + channels_last is already used).")
    if device_type != "cuda":
        return f"--compile is skipped on {device_type}: its speed-ups are for CUDA GPUs (see engine/compilation.py)"
    return "--compile: denoisers are compiled block by block on first use; TF32 matmuls on"


def plan_for(denoiser: Any, *, device_type: str, compile_available: bool, policy: str = "full",
             quantized: str = "", fp8: bool = False) -> CompilePlan:
    """The plan for one denoiser (pure: no compilation happens here). `policy` is the memory policy placed with
    (engine/placement.py), `quantized` how its weights are quantised, `fp8` whether it stores fp8 weights."""
    if device_type != "cuda":
        return CompilePlan(reason=f"the device is {device_type}; --compile is for CUDA GPUs")
    if not isinstance(denoiser, torch.nn.Module):
        return CompilePlan(reason="the model has no UNet or transformer module")
    is_unet = type(denoiser).__name__.startswith("UNet")
    channels_last = is_unet
    if not compile_available:
        return CompilePlan(channels_last=channels_last, reason="this torch build has no torch.compile")
    if policy == "lowvram":  # group offload moves each layer's weights in hooks: graphs would break at every layer
        return CompilePlan(channels_last=channels_last, reason="the lowvram memory policy streams weights layer by "
                                                               "layer, which compiled blocks cannot follow")
    if quantized:
        return CompilePlan(channels_last=channels_last, reason=f"its weights are quantised ({quantized}) and "
                                                               "dequantised in hooks; it runs eagerly")
    if fp8:
        return CompilePlan(channels_last=channels_last, reason="its weights are stored in fp8 and cast up in hooks "
                                                               "layer by layer; it runs eagerly")
    blocks = tuple(getattr(denoiser, "_repeated_blocks", None) or (_UNET_BLOCKS if is_unet else ()))
    present = {type(m).__name__ for m in denoiser.modules()}
    blocks = tuple(b for b in blocks if b in present)
    if not blocks:
        return CompilePlan(channels_last=channels_last, reason=f"{type(denoiser).__name__} names no repeated block "
                                                               "to compile")
    return CompilePlan(compile_blocks=blocks, channels_last=channels_last,
                       reason="first call per picture size compiles the blocks (seconds to minutes), later calls "
                              "run the compiled blocks")


def apply(denoiser: torch.nn.Module, plan: CompilePlan) -> int:
    """Carry out `plan` on the denoiser in place; returns how many blocks were marked for compilation (torch
    compiles each on its first call)."""
    if plan.channels_last:
        denoiser.to(memory_format=torch.channels_last)
    compiled = 0
    for module in denoiser.modules():
        if type(module).__name__ in plan.compile_blocks:
            module.compile(fullgraph=False, dynamic=None)  # a new size recompiles once, then runs dynamic
            compiled += 1
    return compiled


def enable_tf32() -> None:
    """TF32 for float32 matmuls and convolutions (CUDA): ~8x the float32 rate on Ampere and later, 10-bit mantissa
    products. bf16/fp16 weights (the default on GPUs) are not affected."""
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"


def denoiser_of(pipe: Any) -> Any:
    unet = getattr(pipe, "unet", None)
    return unet if isinstance(unet, torch.nn.Module) else getattr(pipe, "transformer", None)


def on_model_loaded(loaded: Any, device_type: str) -> CompilePlan:
    """The "model loaded" hook --compile adds: plan, apply, and note it in the placement the jobs show."""
    denoiser = denoiser_of(loaded.pipe)
    placement = getattr(loaded, "placement", None)
    plan = plan_for(denoiser, device_type=device_type, compile_available=hasattr(torch, "compile"),
                    policy=placement.choice.policy if placement is not None else "full",
                    quantized=placement.quantized if placement is not None else "",
                    fp8=placement.fp8 if placement is not None else False)
    if plan.active:
        blocks = apply(denoiser, plan)
        log.info("%s: %s (%d blocks)", loaded.info.name, plan.describe(), blocks)
    else:
        log.info("%s: %s", loaded.info.name, plan.describe())
    if placement is not None:
        placement.notes.append(plan.describe())
    return plan
