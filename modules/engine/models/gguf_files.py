"""GGUF-quantised Flux transformer files (Q8_0, Q5_K, Q4_K… as people share them, city96's layout): what a file is,
read from its header, and loading it through diffusers' GGUF support.

A GGUF file holds the transformer alone, in BFL's key layout; its weights stay quantised in memory and each layer
is dequantised to the compute dtype as it runs (diffusers' GGUFLinear), so a Q8_0 Flux takes about half the memory
of bf16 and Q4_K about a quarter. The text encoders and VAE are module files (models/text_encoder, models/VAE),
chosen or fitting, exactly as for a Flux safetensors transformer (engine/models/flux_single.py); only when they do
not make a whole set, a Flux diffusers folder of the same kind in models/Stable-diffusion lends its own (its
"companion": same latent channels, text widths and guidance embedding; its transformer weights are never read).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine.models.flux_files import FluxFileError, bfl_to_diffusers, config_from_bfl, strip_prefix

GGUF_SUFFIX = ".gguf"
# The transformer config fields a companion folder's text encoders and VAE must agree with.
INTERFACE = ("in_channels", "joint_attention_dim", "pooled_projection_dim", "guidance_embeds")
_PLAIN = ("F32", "F16", "BF16")


class GgufError(ValueError):
    """A GGUF file we cannot run; the message says what it is and what to do."""


@dataclass(frozen=True)
class GgufFacts:
    architecture: str
    quant: str  # the main quantisation ("Q8_0", "Q4_K"...): the type most weights are stored in
    config: dict[str, Any]  # FluxTransformer2DModel's config read from the shapes
    label: str


def _reader(path: Path):
    import gguf

    try:
        return gguf.GGUFReader(str(path))
    except (ValueError, OSError, IndexError) as exc:
        raise GgufError(f"{path.name} is not a readable GGUF file ({exc}); it may be truncated: download it again")


def _field_text(reader: Any, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    try:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except (UnicodeDecodeError, TypeError, IndexError):
        return None


def describe(path: Path) -> GgufFacts:
    """What the model list says of a GGUF file, from its header alone (no tensor data is read)."""
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES

    reader = _reader(path)
    arch = _field_text(reader, "general.architecture") or "unknown"
    # Tensors with their logical shapes (ggml lists dimensions innermost first) on the meta device: enough for the
    # config, which only looks at shapes.
    shapes = {t.name: torch.empty(tuple(int(d) for d in reversed(t.shape)), device="meta") for t in reader.tensors}
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
        if tensor.tensor_type.name not in _PLAIN and tensor.tensor_type not in SUPPORTED_GGUF_QUANT_TYPES:
            raise GgufError(f"{tensor.name} is stored as {tensor.tensor_type.name}, which diffusers cannot "
                            f"dequantise; use a Q8_0, Q6_K, Q5_K, Q4_K, Q4_0 or IQ4 file")
    if arch != "flux":
        what = {"qwen_image": "Qwen-Image", "lumina2": "Z-Image", "sd3": "SD 3.x", "wan": "Wan video"}.get(arch, arch)
        raise GgufError(f"this GGUF file holds a {what} model ({arch!r}); only Flux.1 GGUF transformers load so far")
    axes = _field_text(reader, "flux.axes_dims_rope")
    try:
        config = config_from_bfl(strip_prefix(shapes), {"flux.axes_dims_rope": axes} if axes else None)
    except FluxFileError as exc:
        raise GgufError(f"this GGUF file is not a Flux transformer we can read: {exc}") from None
    quantised = {k: v for k, v in counts.items() if k not in _PLAIN}
    quant = max(quantised, key=quantised.__getitem__) if quantised else max(counts, key=counts.__getitem__)
    variant = "dev" if config["guidance_embeds"] else "schnell"
    label = (f"Flux.1 {variant} transformer (GGUF {quant}, {config['num_layers']}+{config['num_single_layers']} "
             "blocks)")
    return GgufFacts(arch, quant, config, label)


def interface(config: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(config.get(key) for key in INTERFACE)


def folder_interface(folder: Path) -> tuple[Any, ...] | None:
    """The interface of a Flux diffusers folder's transformer (None: not a Flux folder)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        if index.get("_class_name") != "FluxPipeline":
            return None
        config = json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return interface({**{"guidance_embeds": False}, **config})


def pick_companion(config: dict[str, Any], folders: Iterable[Path]) -> Path | None:
    """The first Flux diffusers folder whose text encoders and VAE fit this transformer."""
    wanted = interface(config)
    for folder in folders:
        if folder_interface(folder) == wanted:
            return folder
    return None


def load_transformer(path: Path, compute_dtype: torch.dtype) -> Any:
    """The file's transformer with its weights kept quantised (diffusers' GGUF quantizer), computing in
    `compute_dtype`. Our own BFL -> diffusers conversion splits fused rows, which quantised blocks allow (every
    row is quantised on its own); diffusers' converter assumes Flux.1's full width."""
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    facts = describe(path)
    weights = bfl_to_diffusers(strip_prefix(load_gguf_checkpoint(str(path))), facts.config)
    config_dir = _config_folder(facts.config)
    try:
        return FluxTransformer2DModel.from_single_file(
            weights, config=str(config_dir), local_files_only=True, dtype=compute_dtype,
            quantization_config=GGUFQuantizationConfig(compute_dtype=compute_dtype))
    finally:
        for file in config_dir.iterdir():
            file.unlink()
        config_dir.rmdir()


def _config_folder(config: dict[str, Any]) -> Path:
    """from_single_file takes a config only as a folder; one in a temporary place, removed after the load."""
    import tempfile

    from diffusers import FluxTransformer2DModel

    folder = Path(tempfile.mkdtemp(prefix="gguf-config-"))
    full = {"_class_name": FluxTransformer2DModel.__name__, **config,
            "axes_dims_rope": list(config["axes_dims_rope"])}
    (folder / "config.json").write_text(json.dumps(full), encoding="utf-8")
    return folder


def flux_facts(facts: GgufFacts) -> Any:
    """The file as flux_single sees a transformer file: what its parts must fit, and which scheduler it takes."""
    from modules.engine.models.flux_single import FluxFile

    return FluxFile(facts.config, "dev" if facts.config["guidance_embeds"] else "schnell", f"GGUF {facts.quant}")


def load_pipeline_with_parts(path: Path, parts: Any, folders: Any, dtype: torch.dtype) -> Any:
    """A FluxPipeline of this file's transformer with text-encoder and VAE files (as flux_single.choose_parts picked
    them; configs and tokenizers as for a Flux safetensors file)."""
    from modules.engine.models import flux_single

    return flux_single.assemble(load_transformer(path, dtype), flux_facts(describe(path)), parts, folders, dtype)


def load_pipeline(path: Path, companion: Path, dtype: torch.dtype) -> Any:
    """A FluxPipeline: the companion folder's text encoders, VAE and scheduler with this file's transformer."""
    from diffusers import FluxPipeline

    transformer = load_transformer(path, dtype)
    return FluxPipeline.from_pretrained(str(companion), transformer=transformer, dtype=dtype, local_files_only=True)

