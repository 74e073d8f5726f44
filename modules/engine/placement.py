"""Where a pipeline's weights live: the memory policy chosen per model and device, fp8 weight storage, and the
peak memory a job used.

Policies, from the fastest to the leanest:
- "full": every component on the device (always so on the CPU, where the weights are in RAM anyway);
- "offload": diffusers' model offload, one component (text encoder, UNet, VAE) on the GPU at a time;
- "lowvram": diffusers' group offload at leaf level with a CUDA stream (sequential offload without streams),
  for models whose largest component does not fit.
`--memory auto` picks one from the model's size and the device's free memory (`choose`, a pure function);
full / offload / lowvram force it. The choice and its reason are kept with the loaded model and written into
each job's details, with the job's peak device memory.

fp8 storage (a per-checkpoint option, and always for checkpoints stored in fp8): the UNet's weights are kept in
float8_e4m3fn and each layer is cast to the compute dtype as it runs (diffusers' layerwise casting): half the
memory of bf16 for a small loss of precision. An fp8 file's values survive exactly (every e4m3 value is a bf16
and an fp16 value), so it loses nothing it had.
"""

from __future__ import annotations

import logging
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.engine.devices import DeviceConfig

log = logging.getLogger(__name__)

POLICIES: tuple[str, ...] = ("auto", "full", "offload", "lowvram")
COMPONENTS = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")
FP8 = torch.float8_e4m3fn
GIB = 1024**3
# Room a job needs beyond the weights (latents, attention, the VAE decoder's activations): at least 1 GiB, and a
# quarter of the weights for the larger models, whose pictures are larger too.
_MIN_WORKING = GIB
_WORKING_SHARE = 0.25


class MemoryPolicyError(ValueError):
    """An unknown --memory value; the message lists the choices."""


@dataclass(frozen=True)
class ModelSize:
    total: int  # bytes of all components at the dtype they will have on the device
    largest: int  # bytes of the largest component (what model offload needs on the device at once)
    largest_name: str = ""


@dataclass(frozen=True)
class PolicyChoice:
    policy: str  # "full" | "offload" | "lowvram"
    reason: str


@dataclass
class Placement:
    """How a loaded model sits in memory: kept with it, shown in every job's details."""

    choice: PolicyChoice
    fp8: bool = False  # the UNet/transformer stores its weights in fp8
    fp8_reason: str = ""
    notes: list[str] = field(default_factory=list)
    quantized: str = ""  # how the denoiser's weights are quantised ("gguf", "bitsandbytes"...), if they are


def working_bytes(size: ModelSize) -> int:
    return max(_MIN_WORKING, int(size.total * _WORKING_SHARE))


def choose(size: ModelSize, free: int | None, device_type: str, forced: str = "auto") -> PolicyChoice:
    """The policy for a model of `size` on a device with `free` bytes (None: unknown), or the one forced."""
    if forced not in POLICIES:
        raise MemoryPolicyError(f"Memory policy must be one of {', '.join(POLICIES)}, not {forced!r}.")
    if device_type == "cpu":
        why = "offloading moves weights from RAM to a GPU; on the CPU they are in RAM already"
        return PolicyChoice("full", f"CPU: {why}" + (f" (--memory {forced} has no effect here)"
                                                      if forced not in ("auto", "full") else ""))
    if forced != "auto":
        return PolicyChoice(forced, f"forced by --memory {forced}")
    if free is None:
        return PolicyChoice("full", f"{device_type} does not report its free memory: everything on the device")
    working = working_bytes(size)
    figures = (f"model {size.total / GIB:.1f} GiB, largest part {size.largest_name or '?'} "
               f"{size.largest / GIB:.1f} GiB, {free / GIB:.1f} GiB free, {working / GIB:.1f} GiB kept for the work")
    if size.total + working <= free:
        return PolicyChoice("full", f"the whole model fits ({figures})")
    if size.largest + working <= free:
        return PolicyChoice("offload", f"the model does not fit at once but its largest part does: one part on "
                                       f"the GPU at a time ({figures})")
    return PolicyChoice("lowvram", f"not even the largest part fits: groups of layers streamed to the GPU "
                                   f"({figures})")


def _modules(pipe: Any) -> dict[str, torch.nn.Module]:
    found = {}
    for name in COMPONENTS:
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            found[name] = module
    return found


def quantized(module: Any) -> bool:
    """Weights a quantizer owns (GGUF, bitsandbytes): they keep their storage, and .to(dtype) is refused."""
    return bool(getattr(module, "is_quantized", False))


def model_size(pipe: Any, dtype: torch.dtype, fp8: bool = False) -> ModelSize:
    """Bytes of the pipeline's components at `dtype` (the UNet/transformer at 1 byte per weight with fp8; a
    quantised one at the bytes it stores)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    sizes = {}
    for name, module in _modules(pipe).items():
        if quantized(module):
            sizes[name] = sum(p.numel() * p.element_size() for p in module.parameters())
            continue
        per = 1 if fp8 and name in ("unet", "transformer") else itemsize
        sizes[name] = sum(p.numel() for p in module.parameters()) * per
    if not sizes:
        return ModelSize(0, 0)
    largest = max(sizes, key=sizes.__getitem__)
    return ModelSize(sum(sizes.values()), sizes[largest], largest)


def free_bytes(device: torch.device) -> int | None:
    """What the device has free for a model now (CUDA: the driver's free memory plus torch's unused cache)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def stored_in_fp8(pipe: Any) -> bool:
    """Whether the denoiser's weights came from the file in fp8 (a Civitai "fp8" checkpoint)."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if not isinstance(denoiser, torch.nn.Module):
        return False
    return any(p.dtype == FP8 for p in denoiser.parameters())


def _store_fp8(module: torch.nn.Module, compute: torch.dtype) -> None:
    # diffusers keeps norms, embeddings and in/out projections at the compute dtype (its skip patterns); all
    # other layers hold fp8 and are cast up as each one runs.
    for param in module.parameters():
        if param.dtype == FP8:  # an fp8 file: first give every weight the compute dtype, exactly
            param.data = param.data.to(compute)
    module.enable_layerwise_casting(storage_dtype=FP8, compute_dtype=compute)


def _planar(module: torch.nn.Module) -> bool:
    """Whether channels_last can lay out the module: Qwen-Image's VAE has 3-D convolutions (5-D weights)."""
    return all(p.dim() != 5 for p in module.parameters())


def place_on_device(pipe: Any, device: DeviceConfig) -> None:
    """Move to the device and dtype in one pass per module (one copy of every weight, not two)."""
    # channels_last makes oneDNN's bf16 convolutions markedly faster on CPU (VAE decode 9.1 s -> 4.9 s).
    layout = {"memory_format": torch.channels_last} if (device.device.type == "cpu" and
                                                        device.dtype == torch.bfloat16) else {}
    for name in ("unet", "transformer", "vae"):  # Flux and SD 3.x have a transformer instead of a UNet
        module = getattr(pipe, name, None)
        if module is not None and quantized(module):  # its compute dtype was set when it was loaded
            if _quant_method(module) != "bitsandbytes":  # bitsandbytes loads onto the GPU and refuses .to()
                module.to(device.device)
        elif module is not None:
            module.to(device.device, device.dtype, **(layout if _planar(module) else {}))
    for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.to(device.device, device.dtype)


def _place_full(pipe: Any, device: DeviceConfig, fp8: bool) -> None:
    denoiser_name = "unet" if isinstance(getattr(pipe, "unet", None), torch.nn.Module) else "transformer"
    denoiser = getattr(pipe, denoiser_name, None)
    if not fp8:
        for module in _modules(pipe).values():  # an fp8 file without the option: computed as usual
            if any(p.dtype == FP8 for p in module.parameters()):
                module.to(dtype=device.dtype)
        place_on_device(pipe, device)
        return
    # The denoiser is cast to fp8 first and then moved as it is (.to with a dtype would undo the casting).
    _store_fp8(denoiser, device.dtype)
    denoiser.to(device.device)
    channels_last = device.device.type == "cpu" and device.dtype == torch.bfloat16
    for name, module in _modules(pipe).items():
        if module is not denoiser:
            layout = {"memory_format": torch.channels_last} if channels_last and name == "vae" and _planar(module) \
                else {}
            module.to(device.device, device.dtype, **layout)


def file_has_fp8(path: Path) -> bool:
    """Whether a checkpoint (a .safetensors file, or a diffusers folder's UNet/transformer) stores weights in
    float8_e4m3fn. Reads the headers only."""
    from safetensors import safe_open

    files = [path] if path.is_file() else sorted(path.glob("unet/*.safetensors")) + \
        sorted(path.glob("transformer/*.safetensors"))
    for file in files:
        if file.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(file), framework="pt") as f:
                if any(f.get_slice(key).get_dtype() == "F8_E4M3" for key in f.keys()):
                    return True
        except Exception:  # noqa: BLE001 - a bad file is the loader's to report, with a better message
            return False
    return False


def place(pipe: Any, device: DeviceConfig, *, fp8: bool = False, fp8_file: bool = False,
          free: int | None = None) -> Placement:
    """Put a freshly loaded pipeline where its policy says, with fp8 storage when asked (`fp8`) or when the
    file stores its weights so (`fp8_file`, or fp8 weights the loader kept)."""
    from_file = fp8_file or stored_in_fp8(pipe)
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    method = _quant_method(denoiser)
    notes = []
    if method and (fp8 or from_file):  # its weights are already smaller than fp8 would make them
        notes.append(f"fp8 storage not applied: the weights are already quantised ({method})")
        fp8 = from_file = False
    use_fp8 = fp8 or from_file
    size = model_size(pipe, device.dtype, use_fp8)
    free = free if free is not None else free_bytes(device.device)
    choice = choose(size, free, device.device.type, device.memory)
    placement = Placement(choice, fp8=use_fp8,
                          fp8_reason="stored in fp8 in the file" if from_file else "fp8 weights chosen for this "
                          "checkpoint" if fp8 else "", notes=notes, quantized=method)
    if choice.policy == "full" or device.device.type != "cuda":
        _place_full(pipe, device, use_fp8)
    else:
        if use_fp8:
            denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
            _store_fp8(denoiser, device.dtype)
        for name, module in _modules(pipe).items():
            if not (use_fp8 and name in ("unet", "transformer")) and not quantized(module):
                module.to(dtype=device.dtype)
        _offload(pipe, choice.policy, device.device)
    log.info("memory policy %s: %s%s", choice.policy, choice.reason,
             f"; UNet weights in fp8 ({placement.fp8_reason})" if use_fp8 else "")
    return placement


def _quant_method(module: Any) -> str:
    if not quantized(module):
        return ""
    method = getattr(module, "quantization_method", None)  # diffusers' QuantizationMethod, set when it quantised
    return str(getattr(method, "value", method) or "quantised")


def _offload(pipe: Any, policy: str, device: torch.device) -> None:
    """diffusers' offloading (CUDA only: the hooks move weights between the CPU and the GPU)."""
    if policy == "offload":
        pipe.enable_model_cpu_offload(device=device)
        return
    try:
        pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=True)
    except (AttributeError, ValueError, RuntimeError) as exc:  # pipelines or modules group offload can't take
        log.warning("group offload unavailable (%s): using sequential offload", exc)
        pipe.enable_sequential_cpu_offload(device=device)


# ------------------------------------------------------------------------------------------------ peak memory
@dataclass(frozen=True)
class PeakMemory:
    bytes: int | None  # None: the device does not say
    what: str  # "CUDA allocated" | "process RSS (peak since start)" | "n/a"

    def text(self) -> str:
        return "n/a" if self.bytes is None else f"{self.bytes / GIB:.2f} GiB {self.what}"


def _rss_peak() -> int | None:
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):
        return None
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


@contextmanager
def measured(device: torch.device) -> Iterator[list[PeakMemory]]:
    """Measures a job's peak memory; the list holds the figure once the block ends. On CUDA the peak is the
    allocator's for this job alone; elsewhere the process's peak RSS since it started (the OS keeps no other)."""
    out: list[PeakMemory] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        if device.type == "cuda":
            out.append(PeakMemory(int(torch.cuda.max_memory_allocated(device)), "CUDA allocated"))
        else:
            rss = _rss_peak()
            out.append(PeakMemory(rss, "process RSS (peak since start)" if rss is not None else "n/a"))


def job_details(placement: Placement | None, peak: PeakMemory | None) -> dict[str, Any]:
    """What a job's record shows of memory: the policy, why, fp8 storage and the peak."""
    if placement is None:
        details: dict[str, Any] = {"policy": "full", "reason": "placed by the caller"}
    else:
        details = {"policy": placement.choice.policy, "reason": placement.choice.reason}
        if placement.fp8:
            details["fp8_weights"] = placement.fp8_reason
        if placement.quantized:
            details["quantized_weights"] = placement.quantized
        if placement.notes:
            details["notes"] = list(placement.notes)
    if peak is not None:
        details["peak_bytes"] = peak.bytes
        details["peak"] = peak.text()
    return details
