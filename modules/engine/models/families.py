"""The model families in one table: their names, what people call them, the text width that reveals them,
and which LoRAs and ControlNets each takes. Checkpoints, LoRAs, ControlNets and embeddings all ask here.

Small SD-architecture models of unknown origin get a family of their own, `custom-<text width>`, so adapters
made for the big families are refused for them (and theirs for the big ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    name: str  # "sd1" | "sd2" | "sd2-v" | "sdxl" | "demo": also the config folder's name, where there is one
    label: str  # for people
    text_width: int | None  # the cross-attention (text) width of its UNet: how adapters show their family
    group: str  # the family of the LoRAs and ControlNets it takes (SD 2.x v and epsilon share them)
    latent: str | None = None  # the family whose latents it continues (a refiner's base family); None: its own


FAMILIES = (
    Family("sd1", "SD 1.x", 768, "sd1"),
    Family("sd2", "SD 2.x", 1024, "sd2"),
    Family("sd2-v", "SD 2.x 768-v", 1024, "sd2"),
    Family("sdxl", "SDXL", 2048, "sdxl"),
    # Its own UNet (OpenCLIP-G text only, aesthetic score): SDXL's LoRAs and ControlNets do not fit it, but it
    # works in SDXL's latent space (same VAE), so it can take over an SDXL run.
    Family("sdxl-refiner", "SDXL refiner", 1280, "sdxl-refiner", latent="sdxl"),
    Family("demo", "Demo (SD architecture)", None, "demo"),  # this project's demo models (training.json)
)
BY_NAME = {family.name: family for family in FAMILIES}
# Adapters carry no prediction type: a width names the epsilon family of the group.
_BY_WIDTH = {family.text_width: family.name for family in FAMILIES if family.name == family.group and family.text_width}


def family_of_width(width: Any) -> str | None:
    """The family an adapter's text width reveals (`custom-<width>` for other SD-architecture widths)."""
    if not isinstance(width, int) or isinstance(width, bool):
        return None
    return _BY_WIDTH.get(width, f"custom-{width}")


def custom(width: int) -> str:
    return f"custom-{width}"


def label(family: str | None) -> str:
    """'SD 1.x', 'SD architecture (320-wide text)', 'unknown'..."""
    if family and family.startswith("custom-"):
        return f"SD architecture ({family.removeprefix('custom-')}-wide text)"
    known = BY_NAME.get(family or "")
    return known.label if known else (family or "unknown")


def width_label(width: int) -> str:
    """The family a text-encoder width belongs to, for messages about embeddings: 'SD 1.x', '320-wide'."""
    family = _BY_WIDTH.get(width)
    return label(family) if family else f"{width}-wide"


def latent_family(family: str | None) -> str | None:
    """The family whose latent space a checkpoint family works in: a refiner can continue those runs."""
    known = BY_NAME.get(family or "")
    return (known.latent or known.name) if known else family


def checkpoint_family_group(family: str | None) -> str | None:
    """The LoRA/ControlNet family a checkpoint family takes."""
    known = BY_NAME.get(family or "")
    return known.group if known else family
