"""bitsandbytes-quantised checkpoints (NF4, FP4, int8): told apart from their headers or configs, and whether this
machine can run them.

bitsandbytes computes on CUDA only. A diffusers folder saved quantised (`quantization_config` with quant_method
"bitsandbytes" in a component's config.json) loads through diffusers on a CUDA device when the `bitsandbytes`
package is installed; everywhere else it is listed unusable with the reason. Single files quantised by
bitsandbytes (Forge's "flux1-dev-bnb-nf4": `*.weight.quant_state.bitsandbytes__nf4` beside each packed weight; int8
files: `*.SCB` row scales) have no diffusers loader, so they are listed with what to use instead.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3")
LABELS = {"nf4": "NF4 (bitsandbytes 4-bit)", "fp4": "FP4 (bitsandbytes 4-bit)", "int8": "int8 (bitsandbytes LLM.int8)"}


def file_quantization(path: Path) -> str | None:
    """"nf4" | "fp4" | "int8" for a .safetensors file bitsandbytes quantised, else None. Reads the header only."""
    if path.suffix.lower() != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except Exception:  # noqa: BLE001 - a bad file is the loader's to report, with a better message
        return None
    for key in keys:
        if key.endswith("quant_state.bitsandbytes__nf4"):
            return "nf4"
        if key.endswith("quant_state.bitsandbytes__fp4"):
            return "fp4"
    return "int8" if any(key.endswith(".SCB") for key in keys) else None


def folder_quantization(folder: Path) -> str | None:
    """The bitsandbytes quantisation a diffusers folder was saved with (any component), else None."""
    for name in COMPONENTS:
        try:
            config = json.loads((folder / name / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        quant = config.get("quantization_config") or {}
        if str(quant.get("quant_method", "")).lower() != "bitsandbytes":
            continue
        if quant.get("load_in_8bit"):
            return "int8"
        return "fp4" if quant.get("bnb_4bit_quant_type") == "fp4" else "nf4"
    return None


def installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def refusal(quant: str, kind: str, device_type: str, have_bitsandbytes: bool | None = None) -> str | None:
    """Why a checkpoint quantised by bitsandbytes cannot run here (None: it can)."""
    what = LABELS.get(quant, quant)
    if kind != "diffusers":
        return (f"its weights are stored in {what}, a single-file format diffusers cannot load; use a GGUF (Q4_K, "
                "Q8_0) or fp8 version of this model, or its diffusers folder")
    if device_type != "cuda":
        return (f"its weights are stored in {what}, which computes on CUDA GPUs only and this server runs on "
                f"{device_type}; use a GGUF (Q4_K, Q8_0) or an unquantised version of this model here")
    if not (installed() if have_bitsandbytes is None else have_bitsandbytes):
        return (f"its weights are stored in {what} and the bitsandbytes package is not installed; install it "
                "(pip install bitsandbytes) and restart, or use a GGUF version of this model")
    return None
