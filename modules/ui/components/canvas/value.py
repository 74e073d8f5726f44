"""What the layered canvas hands Python: the page, its background picture and each named layer as a picture.

Kept free of Gradio so tabs and tests read a canvas without a browser. A tab asks for the layer it needs by
name (`value.mask()`, `value.layer("control")`): a mask is where the mask layer was painted (its alpha), never
guessed from colours, and paint layers never leak into it.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

LAYER_KINDS = ("paint", "mask", "control", "region")
MAX_SIDE = 8192  # a canvas bigger than this is refused: a browser cannot hold its layers anyway
DATA_URL_PREFIX = "data:image/png;base64,"
MASK_OPACITY = 0.55


class CanvasError(ValueError):
    """A canvas payload that cannot be read; the message says what was wrong."""


@dataclass(frozen=True)
class LayerSpec:
    """A layer the canvas starts with: its name, its kind (one of LAYER_KINDS), and how it is shown."""

    name: str
    kind: str = "paint"
    opacity: float | None = None  # None: a mask shows as a translucent overlay, other kinds opaque
    visible: bool = True

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise CanvasError(f"Layer {self.name!r} has kind {self.kind!r}; the kinds are {', '.join(LAYER_KINDS)}.")
        if self.opacity is None:
            object.__setattr__(self, "opacity", MASK_OPACITY if self.kind == "mask" else 1.0)
        if not 0.0 <= self.opacity <= 1.0:
            raise CanvasError(f"Layer {self.name!r} has opacity {self.opacity}; it has to be between 0 and 1.")

    def as_config(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "opacity": self.opacity, "visible": self.visible}


def layer_specs(*specs: LayerSpec | tuple[str, str]) -> tuple[LayerSpec, ...]:
    """Layer specs from specs or (name, kind) pairs; names must be unique, since tabs look layers up by name."""
    out = tuple(s if isinstance(s, LayerSpec) else LayerSpec(*s) for s in specs)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise CanvasError(f"Layer names have to be unique, but are {names}.")
    return out


@dataclass(frozen=True)
class CanvasLayer:
    name: str
    kind: str
    image: Image.Image  # RGBA at the canvas size; transparent where nothing was painted
    visible: bool = True
    opacity: float = 1.0

    def painted(self) -> Image.Image:
        """Where this layer was painted, as an "L" mask (255 = painted), whatever the colour."""
        return self.image.getchannel("A").point(lambda a: 255 if a > 0 else 0)

    def is_empty(self) -> bool:
        return self.image.getchannel("A").getbbox() is None


@dataclass(frozen=True)
class CanvasValue:
    width: int
    height: int
    background: Image.Image | None = None
    layers: tuple[CanvasLayer, ...] = field(default_factory=tuple)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def layer(self, name: str) -> CanvasLayer | None:
        return next((item for item in self.layers if item.name == name), None)

    def layers_of(self, kind: str) -> tuple[CanvasLayer, ...]:
        return tuple(item for item in self.layers if item.kind == kind)

    def mask(self, name: str = "mask") -> Image.Image:
        """The named mask layer as an "L" mask of the canvas size (255 = repaint); all 0 when it is absent."""
        item = self.layer(name)
        if item is None:
            return Image.new("L", self.size, 0)
        if item.kind != "mask":
            raise CanvasError(f"Layer {name!r} is a {item.kind} layer, not a mask.")
        return item.painted()

    def composite(self, kinds: tuple[str, ...] = ("paint",), *, page: tuple[int, int, int] = (255, 255, 255),
                  only_visible: bool = True) -> Image.Image:
        """The background (a white page when there is none) with the layers of `kinds` over it, as RGB.
        Hidden layers are left out, as the artist sees them."""
        out = Image.new("RGBA", self.size, (*page, 255))
        if self.background is not None:
            out.alpha_composite(self.background.convert("RGBA"))
        for item in self.layers:
            if item.kind not in kinds or (only_visible and not item.visible):
                continue
            image = item.image
            if item.opacity < 1.0:
                alpha = image.getchannel("A").point(lambda a, o=item.opacity: round(a * o))
                image = image.copy()
                image.putalpha(alpha)
            out.alpha_composite(image)
        return out.convert("RGB")

    def has_drawing(self, kinds: tuple[str, ...] = ("paint",)) -> bool:
        return any(not item.is_empty() for item in self.layers if item.kind in kinds)


# ------------------------------------------------------------------------------------------ wire format
def encode_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return DATA_URL_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(data: str, what: str) -> Image.Image:
    """A picture from a data URL; CanvasError names the layer when it is not a readable picture."""
    if not isinstance(data, str) or not data.startswith("data:image/") or ";base64," not in data:
        raise CanvasError(f"The canvas sent {what} in an unknown form; expected a data:image/png;base64 URL.")
    try:
        raw = base64.b64decode(data.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if max(image.size) > MAX_SIDE:
                raise CanvasError(f"The canvas sent {what} of {image.width}x{image.height} pixels, over the "
                                  f"limit of {MAX_SIDE} per side.")
            image.load()
            return image.copy()
    except (ValueError, UnidentifiedImageError, OSError) as exc:
        if isinstance(exc, CanvasError):
            raise
        raise CanvasError(f"The canvas sent {what} that is not a readable PNG ({exc}).") from None


def from_payload(payload: dict[str, Any] | None) -> CanvasValue | None:
    """The value the browser sent (see `to_payload`), checked: every layer has the page's size."""
    if not payload:
        return None
    try:
        width, height = int(payload["width"]), int(payload["height"])
    except (KeyError, TypeError, ValueError):
        raise CanvasError("The canvas value has no page size (width and height).") from None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise CanvasError(f"The canvas page is {width}x{height}; each side has to be 1 to {MAX_SIDE} pixels.")
    background = None
    if payload.get("background"):
        background = decode_png(payload["background"], "the background")
    layers = []
    for raw in payload.get("layers") or []:
        name, kind = str(raw.get("name") or ""), str(raw.get("kind") or "paint")
        if kind not in LAYER_KINDS:
            raise CanvasError(f"Layer {name!r} has kind {kind!r}; the kinds are {', '.join(LAYER_KINDS)}.")
        if raw.get("png"):
            image = decode_png(raw["png"], f"layer {name!r}").convert("RGBA")
            if image.size != (width, height):
                raise CanvasError(f"Layer {name!r} is {image.width}x{image.height} but the page is "
                                  f"{width}x{height}.")
        else:
            image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        opacity = min(1.0, max(0.0, float(raw.get("opacity", 1.0))))
        layers.append(CanvasLayer(name, kind, image, bool(raw.get("visible", True)), opacity))
    return CanvasValue(width, height, background, tuple(layers))


def to_payload(value: CanvasValue | Image.Image | None) -> dict[str, Any] | None:
    """What the browser is sent. A bare picture becomes the background of a page of its size, with the
    component's layers empty; layers that are not sent start empty in the browser."""
    if value is None:
        return None
    if isinstance(value, Image.Image):
        value = CanvasValue(value.width, value.height, value)
    return {"width": value.width, "height": value.height,
            "background": encode_png(value.background) if value.background is not None else None,
            "layers": [{"name": item.name, "kind": item.kind, "visible": item.visible, "opacity": item.opacity,
                        "png": None if item.is_empty() else encode_png(item.image)} for item in value.layers]}


def blank(size: tuple[int, int], background: tuple[int, int, int] | None = (255, 255, 255)) -> CanvasValue:
    """A page of `size`: white (ready to draw on) or, with background=None, transparent."""
    picture = Image.new("RGB", size, background) if background is not None else None
    return CanvasValue(size[0], size[1], picture)
