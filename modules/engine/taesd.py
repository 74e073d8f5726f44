"""Tiny decoders (madebyollin's TAESD, TAESDXL, TAEF1): latents to a full-size picture for a tiny fraction of the
VAE's cost, for live previews and, on request, the final decode (A1111's "Decode method: TAESD").

Files are found where A1111 keeps them, `models/VAE-approx`, in the forms people have:
- the decoder alone, as A1111 downloads it: `taesd_decoder.pth` (SD 1.x/2.x), `taesdxl_decoder.pth` (SDXL),
  `taef1_decoder.pth` (Flux), or the same names with `.safetensors`. Their keys index one `nn.Sequential` whose
  layer 0 is a parameter-free clamp, so layer i is layer i-1 of diffusers' `DecoderTiny.layers`;
- a diffusers `AutoencoderTiny` folder (`taesd/`, `taesdxl/`, `taef1/`, with config.json), used as it is.

A tiny decoder takes the latents the UNet works in (the VAE's, already multiplied by its scaling factor) and gives
pixels in [-1, 1]. Nothing is downloaded: without a file, previews keep the linear approximation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine.models import families

log = logging.getLogger(__name__)

# Latent family -> (file stem of the decoder alone, diffusers folder name, latent channels).
KINDS: dict[str, tuple[str, str, int]] = {
    "sd": ("taesd_decoder", "taesd", 4),
    "sdxl": ("taesdxl_decoder", "taesdxl", 4),
    "flux": ("taef1_decoder", "taef1", 16),
}
SUFFIXES = (".safetensors", ".pth", ".pt")
DECODE_TAESD = "TAESD"  # the request's vae_decode_method that decodes with the tiny decoder


class TinyDecoderError(ValueError):
    """A tiny decoder file that cannot be read; the message names the file and what was expected."""


def kind_for(family: str | None) -> str | None:
    """Which tiny decoder serves a checkpoint family: SD 1.x/2.x share TAESD, the SDXL refiner SDXL's, ours none."""
    latent = families.latent_family(family) or ""
    if latent in ("sd1", "sd2", "sd2-v"):
        return "sd"
    if latent == "sdxl":
        return "sdxl"
    if latent.startswith("flux"):
        return "flux"
    return None  # the demo family and unknown SD-architecture models have VAEs of their own


def find(folder: Path | None, kind: str) -> Path | None:
    """The tiny decoder of `kind` in `folder`: a diffusers folder first (it says its own config), then a file."""
    if folder is None or kind not in KINDS:
        return None
    stem, folder_name, _ = KINDS[kind]
    candidate = folder / folder_name
    if (candidate / "config.json").is_file():
        return candidate
    for suffix in SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def missing_message(family: str | None, label: str, folder: Path | None) -> str:
    """Why Decode method TAESD cannot run for this family, and what to do."""
    kind = kind_for(family)
    if kind is None:
        return (f"Decode method TAESD: there is no tiny decoder for {label or family} checkpoints. "
                "Choose Decode method Full.")
    stem, folder_name, _ = KINDS[kind]
    return (f"Decode method TAESD needs {stem}.pth (or {stem}.safetensors, or a diffusers {folder_name}/ folder) "
            f"in {folder or 'models/VAE-approx'} for {label or family} checkpoints, and it is not there. Download "
            "it from github.com/madebyollin/taesd, or choose Decode method Full.")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # weights_only: a .pth is a pickle; refuse anything but tensors (A1111's files are plain state dicts).
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TinyDecoderError(f"{path.name} holds a {type(state).__name__}, not a state dict of tensors.")
    return state


def decoder_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """madebyollin's decoder keys ("1.weight", "3.conv.0.weight"; or with a "decoder." prefix when the file is a
    whole TAESD) -> diffusers' `decoder.layers.N...` keys. Keys already in diffusers' form pass through."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("decoder.layers."):
            out[key] = value
            continue
        if key.startswith("encoder."):
            continue  # a whole TAESD: only its decoder is used here
        bare = key.removeprefix("decoder.")
        head, _, rest = bare.partition(".")
        if not head.isdigit() or not rest:
            raise TinyDecoderError(f"unexpected key {key!r}: a TAESD decoder's keys are numbered layers "
                                   "('1.weight', '3.conv.0.weight', ...)")
        out[f"decoder.layers.{int(head) - 1}.{rest}"] = value
    return out


def load(path: Path, latent_channels: int, dtype: torch.dtype, device: torch.device) -> Any:
    """An `AutoencoderTiny` whose decoder holds the file's weights (its encoder is left unused)."""
    from diffusers import AutoencoderTiny

    if path.is_dir():
        try:
            model = AutoencoderTiny.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise TinyDecoderError(f"{path.name} could not be loaded as a diffusers AutoencoderTiny: {exc}") from exc
        return model.to(device, dtype).eval()
    try:
        state = decoder_keys(_read_state_dict(path))
    except TinyDecoderError as exc:
        raise TinyDecoderError(f"{path.name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - torch/safetensors say many things about a bad file
        raise TinyDecoderError(f"{path.name} could not be read ({type(exc).__name__}: {exc}). Download it again "
                               "from madebyollin/taesd.") from exc
    first = state.get("decoder.layers.0.weight")
    channels = int(first.shape[1]) if first is not None else latent_channels
    model = AutoencoderTiny(latent_channels=channels)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.startswith("decoder.")]
    if missing or unexpected:
        raise TinyDecoderError(f"{path.name} does not fit a TAESD decoder: missing {missing[:3]}, unexpected "
                               f"{unexpected[:3]}.")
    return model.to(device, dtype).eval()


@dataclass
class _Entry:
    path: Path
    mtime: float
    model: Any


class TinyDecoders:
    """The tiny decoders of one models/VAE-approx folder, loaded on first use and kept (each is ~5 MB)."""

    def __init__(self, folder: Path | None, device: torch.device, dtype: torch.dtype) -> None:
        self.folder = folder
        self.device, self.dtype = device, dtype
        self._loaded: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def available(self, family: str | None) -> bool:
        kind = kind_for(family)
        return kind is not None and find(self.folder, kind) is not None

    def get(self, family: str | None) -> Any | None:
        """The tiny decoder for a checkpoint family, or None when there is no file for it."""
        kind = kind_for(family)
        path = find(self.folder, kind) if kind else None
        if path is None:
            return None
        mtime = path.stat().st_mtime
        with self._lock:
            entry = self._loaded.get(kind)
            if entry is None or entry.path != path or entry.mtime != mtime:  # a replaced file is read again
                model = load(path, KINDS[kind][2], self.dtype, self.device)
                log.info("loaded tiny decoder %s for %s latents", path.name, kind)
                entry = self._loaded[kind] = _Entry(path, mtime, model)
            return entry.model


def decode_pixels(model: Any, latents: torch.Tensor) -> torch.Tensor:
    """UNet-space latents (N, C, h, w) -> pixels in [-1, 1] on the tiny decoder's device."""
    param = next(model.parameters())
    with torch.no_grad():
        return model.decode(latents.to(param.device, param.dtype), return_dict=False)[0]


def to_unet_space(vae_config: Any, z: torch.Tensor) -> torch.Tensor:
    """What a pipeline hands `vae.decode` (latents divided by the scaling factor, or de-normalised for VAEs with
    latents_mean/std) back to the UNet's latent space, which the tiny decoder reads."""
    scale = vae_config.scaling_factor
    mean, std = getattr(vae_config, "latents_mean", None), getattr(vae_config, "latents_std", None)
    if mean is not None and std is not None:
        channels = z.shape[1]
        mean_t = torch.tensor(mean).view(1, channels, 1, 1).to(z)
        std_t = torch.tensor(std).view(1, channels, 1, 1).to(z)
        return (z - mean_t) * scale / std_t
    return z * scale


@contextmanager
def decoding_with(vae: Any, tiny: Any) -> Iterator[None]:
    """For one job, every `vae.decode` (the pipeline's and ours) runs the tiny decoder instead: A1111's
    "Decode method: TAESD". Encoding (img2img) still uses the full VAE, as A1111's default encode method does."""
    from diffusers.models.autoencoders.vae import DecoderOutput

    had_own = "decode" in vae.__dict__
    original = vae.decode

    def decode(z: torch.Tensor, *args: Any, return_dict: bool = True, **kwargs: Any) -> Any:
        pixels = decode_pixels(tiny, to_unet_space(vae.config, z)).to(z.device, z.dtype)
        return DecoderOutput(sample=pixels) if return_dict else (pixels,)

    vae.decode = decode
    try:
        yield
    finally:
        if had_own:
            vae.decode = original
        else:
            del vae.decode
