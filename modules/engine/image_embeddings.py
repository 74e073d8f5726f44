"""CLIP vision encoders from models/clip_vision: found, told apart by their shapes, loaded offline, run.

Users have them as A1111/Forge/ComfyUI keep them: single files in transformers' key layout
(`CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors`, `CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors`,
sd-webui-controlnet's `clip_h.pth` / `clip_g.pth`) or transformers folders (config.json + weights). A single
file carries no config: its shapes pick one of the configs shipped in models/configs/clip-vision-* (ViT-H/14,
ViT-bigG/14, ViT-L/14), since the head count cannot be read from shapes. Nothing here reaches the network.

This module is the one owner of loading and running an encoder: IP-Adapter (through the model manager's cache)
takes image embeddings or the penultimate hidden states from here, and find-similar
(`picture_embedders.ClipVisionEmbedder`) holds a `ClipVisionEncoder`, loaded on first use; neither loads or
preprocesses on its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

log = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parent / "models" / "configs"
SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
# The names people give the files of each architecture (ComfyUI's, Forge's, sd-webui-controlnet's), to name
# the file expected when one is missing.
KNOWN_NAMES = {
    "vit-h": "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors",
    "vit-bigg": "CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors",
    "vit-l": "clip-vit-large-patch14.safetensors",
}


class ClipVisionError(RuntimeError):
    """An encoder that cannot be found or loaded; the message says which file and what to do."""


@dataclass(frozen=True)
class ClipVisionInfo:
    name: str  # path relative to the folder, without extension
    path: Path
    kind: str  # "single_file" | "folder"
    hidden_size: int | None = None  # width of the transformer (what "plus" IP-Adapters read)
    projection_dim: int | None = None  # width of the image embedding
    layers: int | None = None
    error: str | None = None

    @property
    def architecture(self) -> str | None:
        """'vit-h', 'vit-bigg', 'vit-l' for the well-known encoders; None for others."""
        return architecture_of(self.hidden_size, self.projection_dim)


def architecture_of(hidden_size: int | None, projection_dim: int | None) -> str | None:
    return {(1280, 1024): "vit-h", (1664, 1280): "vit-bigg", (1024, 768): "vit-l"}.get((hidden_size, projection_dim))


def _shapes_of_file(path: Path) -> dict[str, list[int]]:
    if path.suffix.lower() == ".safetensors":
        with path.open("rb") as fh:
            length = int.from_bytes(fh.read(8), "little")
            if not 0 < length < 100_000_000:
                raise ValueError("the safetensors header length is not plausible")
            header = json.loads(fh.read(length))
        return {k: v["shape"] for k, v in header.items() if isinstance(v, dict) and "shape" in v}
    return {k: list(v.shape) for k, v in _read_pickle(path).items()}


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    # weights_only: a pickle that needs more than tensors could run code; it is refused, not trusted.
    raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    raw = raw.get("state_dict", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        raise ValueError(f"it holds a {type(raw).__name__}, not a dictionary of tensors")
    return {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}


def shape_config(shapes: dict[str, list[int]]) -> dict[str, int]:
    """What the shapes of a transformers-layout CLIPVisionModelWithProjection say about its config."""
    patch = shapes.get("vision_model.embeddings.patch_embedding.weight")
    projection = shapes.get("visual_projection.weight")
    if patch is None or projection is None:
        if any(k.startswith(("visual.", "model.visual.")) for k in shapes):
            raise ValueError("is in open_clip's layout; use the transformers-layout file (as ComfyUI and the "
                             "IP-Adapter release ship it, keys 'vision_model.*' and 'visual_projection.weight')")
        raise ValueError("is not a CLIP vision encoder with projection (no 'vision_model.embeddings."
                         "patch_embedding.weight' / 'visual_projection.weight')")
    positions = shapes["vision_model.embeddings.position_embedding.weight"][0]
    layer_ids = {int(m.group(1)) for k in shapes if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", k))}
    return {"hidden_size": patch[0], "patch_size": patch[-1], "projection_dim": projection[0],
            "num_hidden_layers": max(layer_ids) + 1 if layer_ids else 0,
            "intermediate_size": shapes["vision_model.encoder.layers.0.mlp.fc1.weight"][0] if layer_ids else 0,
            "image_size": int(round((positions - 1) ** 0.5)) * patch[-1]}


def describe(path: Path) -> ClipVisionInfo:
    """An encoder's file or folder, read from its header/config only (no weights loaded)."""
    name = path.name if path.is_dir() else path.stem
    try:
        if path.is_dir():
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            config = config.get("vision_config", config)
            return ClipVisionInfo(name, path, "folder", config.get("hidden_size"), config.get("projection_dim"),
                                  config.get("num_hidden_layers"))
        found = shape_config(_shapes_of_file(path))
    except Exception as exc:  # unreadable or not an encoder: listed with the reason, never a crash of the scan
        return ClipVisionInfo(name, path, "folder" if path.is_dir() else "single_file", error=f"{exc}")
    return ClipVisionInfo(name, path, "single_file", found["hidden_size"], found["projection_dim"],
                          found["num_hidden_layers"])


def scan(root: Path | None) -> list[ClipVisionInfo]:
    """Every encoder in `root` (files and transformers folders, in subfolders too), sorted by name."""
    if root is None or not root.is_dir():
        return []
    found: list[ClipVisionInfo] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if here != root and (here / "config.json").is_file():
            found.append(replace(describe(here), name=here.relative_to(root).as_posix()))
            dirnames.clear()  # a folder's files are its weights, not more encoders
            continue
        dirnames.sort()
        for filename in sorted(filenames):
            path = here / filename
            if filename.lower().endswith(SUFFIXES) and not filename.startswith("."):
                rel = os.path.splitext(path.relative_to(root).as_posix())[0]
                found.append(replace(describe(path), name=rel))
    return found


def _shipped_config(shapes: dict[str, int], configs: Path) -> Path:
    """The shipped config whose architecture the file's shapes match."""
    keys = ("hidden_size", "projection_dim", "num_hidden_layers", "intermediate_size", "patch_size", "image_size")
    for folder in sorted(configs.glob("clip-vision-*")):
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if all(config.get(k) == shapes[k] for k in keys):
            return folder
    described = ", ".join(f"{k} {shapes[k]}" for k in keys)
    raise ClipVisionError(f"no known CLIP vision architecture has {described}. Single files are supported for "
                          "ViT-H/14, ViT-bigG/14 and ViT-L/14; for another encoder use a transformers folder "
                          "(config.json + model.safetensors).")


def load(info: ClipVisionInfo, dtype: torch.dtype, device: torch.device | str, *,
         configs: Path = CONFIGS) -> Any:
    """A transformers CLIPVisionModelWithProjection on `device`, in eval mode, offline."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if info.error:
        raise ClipVisionError(f"CLIP vision encoder {info.path.name} cannot be used: it {info.error}.")
    try:
        if info.kind == "folder":
            model = CLIPVisionModelWithProjection.from_pretrained(str(info.path), local_files_only=True, dtype=dtype)
        else:
            if info.path.suffix.lower() == ".safetensors":
                from safetensors.torch import load_file

                state_dict = load_file(str(info.path), device="cpu")
            else:
                state_dict = _read_pickle(info.path)
            folder = _shipped_config(shape_config({k: list(v.shape) for k, v in state_dict.items()}), configs)
            config = CLIPVisionConfig.from_pretrained(str(folder), local_files_only=True)
            with torch.device("meta"):
                model = CLIPVisionModelWithProjection(config)
            # position_ids is a buffer some files carry and others do not: not a weight.
            state_dict = {k: v for k, v in state_dict.items() if not k.endswith("position_ids")}
            model.load_state_dict(state_dict, strict=True, assign=True)
            _rebuild_position_ids(model)
    except ClipVisionError:
        raise
    except Exception as exc:
        raise ClipVisionError(f"CLIP vision encoder {info.path.name} could not be loaded: {exc}") from exc
    model = model.to(device=device, dtype=dtype).eval()
    model.requires_grad_(False)
    return model


def _rebuild_position_ids(model: Any) -> None:
    """The positions buffer is not saved in the files (it is 0..n-1), so after a load onto the meta device it
    has no data yet: make it on the CPU."""
    for module in model.modules():
        buffer = module._buffers.get("position_ids")
        if buffer is not None and buffer.is_meta:
            module.register_buffer("position_ids", torch.arange(buffer.shape[-1]).expand((1, -1)), persistent=False)


def pixel_values(model: Any, images: list[Image.Image]) -> torch.Tensor:
    """The pictures as the encoder sees them: CLIP's resize of the short side, centre crop, normalisation."""
    from transformers import CLIPImageProcessor

    size = int(model.config.image_size)
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    tensor = processor([image.convert("RGB") for image in images], return_tensors="pt").pixel_values
    return tensor.to(device=model.device, dtype=model.dtype)


@torch.no_grad()
def encode(model: Any, images: list[Image.Image], *, hidden_states: bool = False) -> torch.Tensor:
    """Image embeddings (batch, projection_dim), or the penultimate layer's hidden states (batch, tokens,
    hidden_size) with `hidden_states`, which is what IP-Adapter "plus" models read."""
    pixels = pixel_values(model, images)
    if hidden_states:
        return model(pixels, output_hidden_states=True).hidden_states[-2]
    return model(pixels).image_embeds


@torch.no_grad()
def encode_blank(model: Any, count: int = 1) -> torch.Tensor:
    """The penultimate hidden states of an all-zero (already normalised) picture: IP-Adapter plus's
    unconditional input, as its authors and diffusers define it."""
    size = int(model.config.image_size)
    pixels = torch.zeros((count, 3, size, size), device=model.device, dtype=model.dtype)
    return model(pixels, output_hidden_states=True).hidden_states[-2]


def default_dtype(device: torch.device) -> torch.dtype:
    """Half precision on a GPU; float32 on a CPU (fp16 is no faster there, and embeddings are compared across
    runs, where float32 keeps them stable)."""
    return torch.float16 if device.type == "cuda" else torch.float32


class ClipVisionEncoder:
    """One encoder of models/clip_vision, loaded on first use (once, whichever thread asks first) and kept."""

    def __init__(self, info: ClipVisionInfo, device: torch.device | None = None,
                 dtype: torch.dtype | None = None) -> None:
        if info.error:
            raise ClipVisionError(f"CLIP vision encoder {info.path.name} cannot be used: it {info.error}.")
        self.info = info
        self.device = device if device is not None else torch.device("cpu")
        self.dtype = dtype if dtype is not None else default_dtype(self.device)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = load(self.info, self.dtype, self.device)
                log.info("CLIP vision encoder %s loaded (%s, %s)", self.info.name, self.device, self.dtype)
            return self._model

    def image_embeds(self, images: list[Image.Image]) -> torch.Tensor:
        """(batch, projection_dim): see `encode`."""
        return encode(self.model(), images)

    def hidden_states(self, images: list[Image.Image]) -> torch.Tensor:
        """(batch, tokens, hidden_size), the penultimate layer: see `encode`."""
        return encode(self.model(), images, hidden_states=True)
