"""VAE decodes that fit in memory: tiling (and slicing for batches) chosen per decode, and an out-of-memory
decode retried in tiles before the job fails.

A decode's peak memory grows with the picture's pixels (the decoder's last blocks hold full-resolution
activations), so a 2048 px hires pass can run out of memory in its last second after minutes of denoising.
Per decode, from the latents' real size, we estimate that peak and tile when it would not fit in what the
device has free (CUDA: the driver's free memory plus torch's unused cache; CPU: half of MemAvailable). diffusers'
tiled decode overlaps its tiles by a quarter and blends them, so the seams stay invisible. A decode that still
runs out of memory is retried tiled and sliced, once. The choice is logged; a retry is also a note on the job.
The infotext never changes: tiling is how the picture is decoded, not what it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from modules.engine import oom

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("auto", "on", "off")

# Full-resolution activations alive at once at the decoder's peak, in tensors of the first block's width
# (128 channels for SD/SDXL VAEs): its resnets keep input, normed copy, output and upsampling temporaries.
_PEAK_TENSORS = 12
# Free memory we let one decode take: the rest is headroom for fragmentation and whatever else runs.
_CUDA_SHARE = 0.8
_CPU_SHARE = 0.5
_FALLBACK_FREE = 4 * 1024**3  # devices that don't say (MPS, XPU): assume a modest 4 GB


@dataclass(frozen=True)
class DecodeChoice:
    tiled: bool
    sliced: bool
    reason: str


def estimated_peak_bytes(vae: Any, latent_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Rough peak memory of decoding `latent_shape` (N, C, h, w) at once with this VAE."""
    batch, _channels, height, width = latent_shape[:4]
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    pixels = height * scale * width * scale
    itemsize = torch.empty((), dtype=dtype).element_size()
    return batch * pixels * vae.config.block_out_channels[0] * itemsize * _PEAK_TENSORS


def free_memory(device: torch.device) -> int:
    """Bytes a decode may use on `device` now (already scaled by the share we allow)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int((free + cached) * _CUDA_SHARE)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(int(line.split()[1]) * 1024 * _CPU_SHARE)
        except OSError:
            pass
    return _FALLBACK_FREE


def can_tile(vae: Any) -> bool:
    """diffusers' AutoencoderKL family has tiled decode; other decoders (e.g. custom ones) decode whole."""
    return callable(getattr(type(vae), "tiled_decode", None))


def choose(vae: Any, latent_shape: tuple[int, ...], mode: str, free_bytes: int) -> DecodeChoice:
    """Whether to tile and slice a decode of `latent_shape`, for `mode` auto / on / off."""
    if mode not in MODES:
        raise ValueError(f"VAE tiling must be one of {', '.join(MODES)}, not {mode!r}.")
    if not can_tile(vae):
        return DecodeChoice(False, False, f"{type(vae).__name__} has no tiled decode")
    if mode == "on":
        return DecodeChoice(True, True, "forced on")
    if mode == "off":
        return DecodeChoice(False, False, "forced off")
    batch = latent_shape[0]
    whole = estimated_peak_bytes(vae, latent_shape, vae.dtype)
    one = whole // max(1, batch)
    sliced = batch > 1 and whole > free_bytes
    tiled = one > free_bytes
    mib = 1024**2
    reason = (f"estimated {whole // mib} MiB for the batch, {one // mib} MiB per picture, "
              f"{free_bytes // mib} MiB available")
    return DecodeChoice(tiled, sliced or tiled, reason)


@contextmanager
def _switched(vae: Any, tiled: bool, sliced: bool) -> Iterator[None]:
    before = (vae.use_tiling, vae.use_slicing)
    vae.use_tiling, vae.use_slicing = tiled, sliced
    try:
        yield
    finally:
        vae.use_tiling, vae.use_slicing = before


def _size(vae: Any, latent_shape: tuple[int, ...]) -> str:
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    return f"{latent_shape[-1] * scale}x{latent_shape[-2] * scale}"


@contextmanager
def guarded(vae: Any, mode: str = "auto", notes: list[str] | None = None,
            free_bytes: Callable[[torch.device], int] = free_memory) -> Iterator[None]:
    """For the duration of a job: every `vae.decode` (the pipeline's own and ours) tiles when it has to, and
    retries tiled when it runs out of memory. `notes` receives a sentence for the job when a retry happened."""
    if mode not in MODES:
        raise ValueError(f"VAE tiling must be one of {', '.join(MODES)}, not {mode!r}.")
    if not can_tile(vae):
        yield
        return
    original = vae.decode  # bound: keeps diffusers' offload hooks (apply_forward_hook) working
    had_own = "decode" in vae.__dict__

    def decode(z: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        shape = tuple(z.shape)
        choice = choose(vae, shape, mode, free_bytes(vae.device))
        log.info("VAE decode of %d x %s: %s (%s)", shape[0], _size(vae, shape),
                 "tiled" if choice.tiled else "sliced" if choice.sliced else "whole", choice.reason)
        try:
            with _switched(vae, choice.tiled, choice.sliced):
                return original(z, *args, **kwargs)
        except Exception as exc:
            if mode == "off" or choice.tiled or not oom.is_out_of_memory(exc):
                raise
            first = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        # Outside the except block, so the failed attempt's frames (and their tensors) can be collected.
        oom.release_memory()
        log.warning("out of memory decoding %d x %s (%s): retrying tiled", shape[0], _size(vae, shape), first)
        with _switched(vae, True, True):
            result = original(z, *args, **kwargs)
        if notes is not None:
            notes.append(f"Out of memory decoding the {_size(vae, shape)} picture: it was decoded again in "
                         "overlapping tiles (seams blended). Set VAE tiling to 'on' to start tiled.")
        return result

    vae.decode = decode
    try:
        yield
    finally:
        if had_own:
            vae.decode = original
        else:
            del vae.decode
