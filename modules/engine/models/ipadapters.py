"""IP-Adapter files: found in models/ipadapter (ComfyUI's and Forge's folder) and models/ControlNet (where
sd-webui-controlnet keeps them), told apart by their shapes, read offline.

A file is the IP-Adapter release's single-file layout: `image_proj.*` (the projection of the CLIP picture
embedding into prompt-like tokens) and `ip_adapter.<n>.to_k_ip/to_v_ip` (the extra keys and values of each
cross-attention layer); `.bin` files hold the same as two nested dictionaries. The shapes tell:
- the family: the cross-attention width of `to_k_ip` (768 SD 1.x, 2048 SDXL), as for ControlNets;
- the kind and the CLIP vision encoder it needs: a base adapter (`image_proj.proj.weight`) reads the image
  embedding (1024 wide: ViT-H/14, 1280: ViT-bigG/14); "plus" (`image_proj.latents`) and "full face"
  (`image_proj.proj.3.weight`) read the penultimate hidden states (1280 wide: ViT-H/14, 1664: ViT-bigG/14);
- FaceID models, which need insightface's face embeddings: refused with that reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.engine import image_embeddings
from modules.engine.models import families

SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
EMBEDS, HIDDEN = "image embeddings", "hidden states"
# (what the adapter reads, its width) -> the encoder architecture that gives it
ENCODER_OF = {(EMBEDS, 1024): "vit-h", (EMBEDS, 1280): "vit-bigg", (EMBEDS, 768): "vit-l",
              (HIDDEN, 1280): "vit-h", (HIDDEN, 1664): "vit-bigg", (HIDDEN, 1024): "vit-l"}
ARCHITECTURE_LABELS = {"vit-h": "ViT-H/14", "vit-bigg": "ViT-bigG/14", "vit-l": "ViT-L/14"}


class IPAdapterError(RuntimeError):
    """An IP-Adapter that cannot be used for this job; the message says why and what to do."""


@dataclass(frozen=True)
class IPAdapterInfo:
    name: str  # file name without extension, as sd-webui-controlnet lists models
    path: Path
    family: str | None
    kind: str = "base"  # "base" | "plus" | "full face" | "face id"
    reads: str = EMBEDS  # EMBEDS or HIDDEN of the CLIP vision encoder
    width: int = 0  # the width of what it reads
    error: str | None = None

    @property
    def family_label(self) -> str:
        return families.label(self.family)

    @property
    def encoder(self) -> str | None:
        """The architecture of the encoder it needs ('vit-h', 'vit-bigg', 'vit-l'), None when unusual."""
        return ENCODER_OF.get((self.reads, self.width))

    def encoder_description(self) -> str:
        arch = self.encoder
        if arch is None:
            return f"a CLIP vision encoder whose {self.reads} are {self.width} wide"
        return f"the CLIP vision encoder {ARCHITECTURE_LABELS[arch]} ({image_embeddings.KNOWN_NAMES[arch]})"

    def fits(self, encoder: image_embeddings.ClipVisionInfo) -> bool:
        return not encoder.error and self.width == (encoder.projection_dim if self.reads == EMBEDS
                                                    else encoder.hidden_size)


def _shapes(path: Path) -> dict[str, list[int]]:
    if path.suffix.lower() == ".safetensors":
        from modules.engine.models.loras import read_header

        header = read_header(path)[0]
        return {k: v["shape"] for k, v in header.items() if isinstance(v, dict) and "shape" in v}
    return {k: list(v.shape) for k, v in read_state_dict(path).items()}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors with flat keys (`image_proj.proj.weight`, `ip_adapter.1.to_k_ip.weight`)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    # weights_only: a pickle that needs more than tensors could run code; it is refused, not trusted.
    raw = torch.load(path, map_location="cpu", weights_only=True)
    flat: dict[str, torch.Tensor] = {}
    for group in ("image_proj", "ip_adapter"):
        for key, value in (raw.get(group) or {}).items() if isinstance(raw, dict) else ():
            flat[f"{group}.{key}"] = value
    if not flat and isinstance(raw, dict):  # already flat
        flat = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    return flat


def split(state_dict: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The two-part dictionary diffusers' IP-Adapter loader takes."""
    out: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in state_dict.items():
        group, _, rest = key.partition(".")
        if group in out:
            out[group][rest] = value
    return out


def describe_shapes(shapes: dict[str, list[int]]) -> tuple[str | None, str, str, int, str | None]:
    """(family, kind, reads, width, error) of an IP-Adapter from its tensor shapes."""
    if not any(k.startswith("ip_adapter.") and k.endswith("to_k_ip.weight") for k in shapes):
        return None, "", EMBEDS, 0, "is not an IP-Adapter (no ip_adapter.*.to_k_ip weights in it)"
    to_k = next(v for k, v in sorted(shapes.items()) if k.startswith("ip_adapter.") and k.endswith("to_k_ip.weight"))
    family = families.family_of_width(to_k[1])
    if any(k.startswith("image_proj.perceiver_resampler.") for k in shapes) or (
            "image_proj.proj.0.weight" in shapes and "image_proj.norm.weight" in shapes
            and "image_proj.proj.3.weight" not in shapes):
        return family, "face id", EMBEDS, 0, ("is an IP-Adapter FaceID model: it needs insightface face embeddings, "
                                              "which this WebUI does not compute. Use a non-FaceID IP-Adapter "
                                              "(ip-adapter_sd15, ip-adapter-plus-face_sd15, ...)")
    if "image_proj.proj.weight" in shapes:
        return family, "base", EMBEDS, shapes["image_proj.proj.weight"][1], None
    if "image_proj.latents" in shapes and "image_proj.proj_in.weight" in shapes:
        return family, "plus", HIDDEN, shapes["image_proj.proj_in.weight"][1], None
    if "image_proj.proj.3.weight" in shapes:
        return family, "full face", HIDDEN, shapes["image_proj.proj.0.weight"][1], None
    return family, "", EMBEDS, 0, "has an image projection this WebUI does not know"


def describe(path: Path, root: Path) -> IPAdapterInfo | None:
    """The file as an IP-Adapter; None when it is no IP-Adapter at all (a ControlNet beside it)."""
    name = os.path.splitext(path.relative_to(root).as_posix())[0]
    try:
        shapes = _shapes(path)
    except Exception as exc:  # a truncated download: listed with the reason
        return IPAdapterInfo(name, path, None, error=f"cannot be read ({exc})")
    family, kind, reads, width, error = describe_shapes(shapes)
    if kind == "" and error and "no ip_adapter" in error:
        return None
    return IPAdapterInfo(name, path, family, kind, reads, width, error)


def scan(*roots: Path | None) -> list[IPAdapterInfo]:
    """IP-Adapters in the folders, in order (models/ipadapter first, then models/ControlNet). A file that is
    not one (a ControlNet) is skipped; a name seen in an earlier folder wins."""
    found: dict[str, IPAdapterInfo] = {}
    for root in roots:
        if root is None or not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            here = Path(dirpath)
            if here != root and (here / "config.json").is_file():
                dirnames.clear()  # a diffusers ControlNet folder
                continue
            dirnames.sort()
            for filename in sorted(filenames):
                path = here / filename
                if not filename.lower().endswith(SUFFIXES) or filename.startswith("."):
                    continue
                if root.name.casefold() != "ipadapter" and not any(
                        tag in filename.casefold() for tag in ("ip-adapter", "ip_adapter", "ipadapter")):
                    continue  # models/ControlNet: only files named like IP-Adapters are opened (pickles are slow)
                info = describe(path, root)
                if info is not None and info.name not in found:
                    found[info.name] = info
    return list(found.values())


@dataclass
class LoadedIPAdapter:
    """An IP-Adapter ready for a job: its weights (in diffusers' two-part dictionary) and its encoder."""

    info: IPAdapterInfo
    state_dict: dict[str, dict[str, torch.Tensor]]
    encoder: Any  # transformers CLIPVisionModelWithProjection
    encoder_name: str


def load(info: IPAdapterInfo) -> dict[str, dict[str, torch.Tensor]]:
    try:
        return split(read_state_dict(info.path))
    except Exception as exc:
        raise IPAdapterError(f"IP-Adapter {info.name} could not be read: {exc}. Re-download it.") from exc


def check_family(info: IPAdapterInfo, checkpoint_family: str | None, checkpoint: str) -> None:
    """Refuse an adapter made for another family, with the reason (Flux-class ones are not supported yet)."""
    if info.error:
        raise IPAdapterError(f"IP-Adapter {info.name} cannot be used: it {info.error}.")
    if (checkpoint_family or "").startswith("flux"):
        raise IPAdapterError(f"IP-Adapter units do not work with Flux-class checkpoints yet ({checkpoint} is "
                             f"{families.label(checkpoint_family)}). Choose an SD 1.x or SDXL checkpoint for "
                             "reference pictures, or disable the unit.")
    wanted = families.checkpoint_family_group(checkpoint_family)
    if info.family != wanted:
        raise IPAdapterError(f"IP-Adapter {info.name} is for {info.family_label} models, but the checkpoint "
                             f"{checkpoint} is {families.label(checkpoint_family)}. Choose an IP-Adapter made for "
                             f"{families.label(checkpoint_family)}.")


def check_module(info: IPAdapterInfo, module: str, module_encoder: str | None, known: bool) -> None:
    """The unit's module has to be an IP-Adapter module this WebUI runs, and name the encoder the adapter needs."""
    folded = module.strip().casefold()
    if "face_id" in folded or "faceid" in folded or "insightface" in folded or "pulid" in folded:
        raise IPAdapterError(f"The {module} preprocessor needs insightface face embeddings, which this WebUI does "
                             "not compute. Use ip-adapter_clip_h (SD 1.x, SDXL ViT-H adapters) or "
                             "ip-adapter_clip_g (SDXL ViT-bigG adapters) with a non-FaceID IP-Adapter.")
    if not known:
        raise IPAdapterError(f"Unknown IP-Adapter preprocessor {module!r}. Use ip-adapter-auto, ip-adapter_clip_h "
                             "or ip-adapter_clip_g.")
    needed = info.encoder
    if module_encoder and needed and module_encoder != needed:
        raise IPAdapterError(f"The {module} preprocessor runs {ARCHITECTURE_LABELS[module_encoder]}, but IP-Adapter "
                             f"{info.name} needs {ARCHITECTURE_LABELS[needed]}. Choose "
                             f"{'ip-adapter_clip_h' if needed == 'vit-h' else 'ip-adapter_clip_g'} or ip-adapter-auto.")


def choose_encoder(info: IPAdapterInfo, encoders: list[image_embeddings.ClipVisionInfo],
                   folder: Path | None) -> image_embeddings.ClipVisionInfo:
    """The encoder in models/clip_vision the adapter reads from, decided by its shapes; the usual file name
    first when several fit. Missing: the message names the file to put where."""
    fitting = [e for e in encoders if info.fits(e)]
    if fitting:
        known = image_embeddings.KNOWN_NAMES.get(info.encoder or "", "").casefold()
        return next((e for e in fitting if e.path.name.casefold() == known), fitting[0])
    where = folder if folder is not None else Path("models/clip_vision")
    arch = info.encoder
    hint = (f"Put {image_embeddings.KNOWN_NAMES[arch]} (the IP-Adapter release's "
            f"{'sdxl_models' if arch == 'vit-bigg' else 'models'}/image_encoder/model.safetensors, renamed) in {where}"
            if arch in ("vit-h", "vit-bigg") else f"Put a fitting CLIP vision encoder in {where}")
    present = ", ".join(e.path.name for e in encoders) or "nothing"
    raise IPAdapterError(f"IP-Adapter {info.name} needs {info.encoder_description()}, which is missing "
                         f"({where} holds {present}). {hint}, then press Refresh.")
