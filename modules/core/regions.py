"""Regional prompting as plain data: regions of the picture, each with its own prompt (its own `<lora:...>` too)
and weight, over the request's prompt, which is the base shared by all. Boxes, masks, colour maps, the infotext
field and the Regional Prompter extension's API args live here; the attention that draws them is in
`modules.engine.regions`.

A region's mask is kept as text ("WxH:" + base64 of the zlib-packed 1-bit grid, one cell per 8x8 pixels of the
picture, as fine as the UNet's finest layer sees), so a request, a queued job's file and the picture's infotext
all carry exactly the mask that was used: a picture made from its infotext uses the same cells.

Blend, per position p of each cross-attention layer: out = base + sum_r a_r (out_r - base), with a_r = weight_r
x mask_r(p); where regions overlap and their a_r add up past 1 they share the place in proportion. Weight 1
(the default, Regional Prompter's "no base prompt") puts the region's prompt alone inside it; 0.8 keeps a fifth
of the base there (Regional Prompter's base ratio 0.2).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops, ImageDraw

__all__ = ["Region", "RegionError", "colour_mask", "colours_of", "decode_mask", "encode_mask", "from_infotext",
           "grid_for", "layout_preview", "to_infotext", "validate_regions"]

MAX_REGIONS = 16
MAX_GRID = 512  # cells a side: a 4096-pixel picture
INFOTEXT_KEY = "Regions"
RP_SCRIPT = "regional prompter"  # the extension's script title, lower-cased as alwayson_scripts keys are here
CELL = 8  # pixels per mask cell: the latent's resolution
MIN_COLOUR_SHARE = 0.005  # colour-map colours covering less of the picture are edge noise (anti-aliasing)
PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40),
           (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0))


class RegionError(ValueError):
    """Regions that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Region:
    prompt: str
    weight: float = 1.0  # the region prompt's share inside its area, in (0, 1]; the base keeps the rest
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 as fractions of the picture
    mask: str | None = None  # encode_mask's text; exactly one of box and mask is set


# ---------------------------------------------------------------------------------------------- masks


def grid_for(width: int, height: int) -> tuple[int, int]:
    """Mask cells for a picture of width x height pixels: one per 8x8 pixels (the latent's cells)."""
    return max(1, math.ceil(width / CELL)), max(1, math.ceil(height / CELL))


def binary(image: Image.Image) -> Image.Image:
    """An "L" picture, 255 inside: a picture with transparency gives its alpha, any other its grey levels."""
    if image.mode in ("RGBA", "LA", "PA") and image.getchannel("A").getextrema() != (255, 255):
        return image.getchannel("A")
    return image.convert("L")


def encode_mask(image: Image.Image, grid: tuple[int, int]) -> str:
    """The mask's text: `image` (white, or opaque, = inside) averaged onto the grid, inside where half or more
    of a cell is."""
    width, height = grid
    small = binary(image).resize((width, height), Image.Resampling.BOX)
    bits = small.point(lambda v: 255 if v >= 128 else 0).convert("1")
    return f"{width}x{height}:" + base64.b64encode(zlib.compress(bits.tobytes(), 9)).decode("ascii")


_MASK_TEXT = re.compile(r"(\d{1,4})x(\d{1,4}):([A-Za-z0-9+/=]+)")


def decode_mask(text: str) -> Image.Image:
    """The "L" grid (0 or 255 per cell) a mask text holds; RegionError when it is not one."""
    match = _MASK_TEXT.fullmatch(str(text).strip())
    if match is None:
        raise RegionError("A region mask must be a picture (base64 PNG) or a mask text like '64x64:eJz...' as "
                          "the infotext writes it.")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_GRID and 1 <= height <= MAX_GRID):
        raise RegionError(f"A region mask grid is {width}x{height}; it must be 1 to {MAX_GRID} cells a side.")
    expected = (width + 7) // 8 * height
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(match.group(3), validate=True), expected + 1)
    except (binascii.Error, zlib.error, ValueError):
        raise RegionError("A region mask text is damaged (its base64/zlib data does not decode).") from None
    if len(data) != expected:
        raise RegionError(f"A region mask text holds {len(data)} bytes; a {width}x{height} grid needs {expected}.")
    return Image.frombytes("1", (width, height), data).convert("L")


def colours_of(image: Image.Image) -> list[tuple[tuple[int, int, int], float]]:
    """The colours of a colour map with the share of the picture each covers, largest first; colours under
    half a percent (anti-aliased edges) are left out. RegionError when there are too many to be regions."""
    rgb = image.convert("RGB")
    total = rgb.width * rgb.height
    counts = rgb.getcolors(maxcolors=total) or []
    shares = sorted(((colour, n / total) for n, colour in counts if n / total >= MIN_COLOUR_SHARE),
                    key=lambda item: -item[1])
    if len(shares) > MAX_REGIONS + 1:  # + 1: one colour may be the background that gets no prompt
        raise RegionError(f"The colour map has {len(shares)} colours (each covering at least "
                          f"{MIN_COLOUR_SHARE:.1%}); at most {MAX_REGIONS} regions are possible. Save it as a PNG "
                          "with flat colours (no JPEG, no smoothing).")
    return shares


def colour_mask(image: Image.Image, colour: tuple[int, int, int], grid: tuple[int, int]) -> str:
    """The mask text of the pixels of a colour map that have exactly `colour`."""
    rgb = image.convert("RGB")
    bands = [band.point(lambda v, c=c: 255 if v == c else 0) for band, c in zip(rgb.split(), colour)]
    inside = ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])  # 255 only where all match
    return encode_mask(inside, grid)


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#ff0000' or 'ff0000' -> (255, 0, 0)."""
    value = str(text).strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise RegionError(f"{text!r} is not a colour; write it as #rrggbb, e.g. #ff0000.")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


# ---------------------------------------------------------------------------------------------- checks


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise RegionError(f"{name} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RegionError(f"{name} must be a number, got {repr(value)[:60]}.") from None
    if not math.isfinite(number):
        raise RegionError(f"{name} must be a finite number, got {value!r}.")
    return number


def _box(name: str, box: Any) -> tuple[float, float, float, float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise RegionError(f"{name}'s box must be four numbers [x0, y0, x1, y1], fractions of the picture from 0 "
                          f"to 1 (e.g. [0, 0, 0.5, 1] for the left half), got {repr(box)[:80]}.")
    x0, y0, x1, y1 = (_number(f"{name}'s box", v) for v in box)
    if max(x0, y0, x1, y1) > 1 or min(x0, y0, x1, y1) < 0:
        raise RegionError(f"{name}'s box {[x0, y0, x1, y1]} is not within 0..1: box values are fractions of the "
                          "picture (for pixels, divide x by the width and y by the height).")
    if not (x0 < x1 and y0 < y1):
        raise RegionError(f"{name}'s box {[x0, y0, x1, y1]} is empty: it needs x0 < x1 and y0 < y1 (left, top, "
                          "right, bottom).")
    return x0, y0, x1, y1


def validate_regions(regions: Any) -> tuple[Region, ...]:
    """The regions checked and normalised (numbers as floats, boxes as tuples); RegionError that says what
    to change. Prompt length and syntax limits are the request's (`requests.check_prompt`)."""
    if not isinstance(regions, (list, tuple)):
        raise RegionError("Regions must be a list of {prompt, box or mask, weight}.")
    if len(regions) > MAX_REGIONS:
        raise RegionError(f"{len(regions)} regions were sent; at most {MAX_REGIONS} are allowed. Merge some.")
    out = []
    for n, region in enumerate(regions, start=1):
        name = f"Region {n}"
        if not isinstance(region, Region):
            raise RegionError(f"{name} is not a region (got {type(region).__name__}).")
        if not isinstance(region.prompt, str) or not region.prompt.strip():
            raise RegionError(f"{name} has no prompt. Write what to draw there, or remove the region.")
        weight = _number(f"{name}'s weight", region.weight)
        if not 0 < weight <= 1:
            raise RegionError(f"{name}'s weight must be above 0 and at most 1 (its prompt's share inside its area; "
                              f"the base prompt keeps the rest), but is {weight:g}.")
        if (region.box is None) == (region.mask is None):
            raise RegionError(f"{name} needs exactly one of a box [x0, y0, x1, y1] and a mask.")
        box = None if region.box is None else _box(name, region.box)
        if region.mask is not None:
            try:
                cells = decode_mask(region.mask)
            except RegionError as exc:
                raise RegionError(f"{name}: {exc}") from None
            if cells.getextrema()[1] == 0:
                raise RegionError(f"{name}'s mask is empty (no cell is half covered). Paint more of it, or remove "
                                  "the region.")
        out.append(Region(region.prompt, weight, box, region.mask))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- infotext


def to_infotext(regions: tuple[Region, ...]) -> str:
    """The `Regions` infotext value: compact JSON, one object per region (weight left out when 1)."""
    items = []
    for region in regions:
        item: dict[str, Any] = {"prompt": region.prompt}
        if region.weight != 1:
            item["weight"] = region.weight
        if region.box is not None:
            item["box"] = [round(v, 6) for v in region.box]
        else:
            item["mask"] = region.mask
        items.append(item)
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def from_items(items: Any, what: str = "regions") -> tuple[Region, ...]:
    """Regions from JSON-like dicts {prompt, box | mask (mask text), weight}; RegionError naming the problem."""
    if not isinstance(items, list):
        raise RegionError(f"{what} must be a list of objects {{prompt, box or mask, weight}}.")
    regions = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise RegionError(f"Region {n} must be an object {{prompt, box or mask, weight}}, got "
                              f"{type(item).__name__}.")
        unknown = sorted(set(item) - {"prompt", "box", "mask", "weight"})
        if unknown:
            raise RegionError(f"Region {n} has fields that mean nothing here: {', '.join(unknown)}. A region takes "
                              "prompt, box (or mask) and weight.")
        regions.append(Region(prompt=item.get("prompt", ""), weight=item.get("weight", 1.0),
                              box=item.get("box"), mask=item.get("mask")))
    return validate_regions(regions)


def from_infotext(text: str) -> tuple[Region, ...]:
    """PNG Info's "Send to": the regions an infotext's `Regions` value describes."""
    try:
        items = json.loads(text)
    except ValueError:
        raise RegionError("The infotext's Regions value is not the JSON list this app writes.") from None
    return from_items(items, "The infotext's Regions value")


# ---------------------------------------------------------------------------------------------- preview


def layout_preview(regions: tuple[Region, ...], width: int, height: int) -> Image.Image:
    """The layout drawn over a white picture of the output size: each region in its own colour, numbered."""
    canvas = Image.new("RGB", (max(8, int(width)), max(8, int(height))), "white")
    for n, region in enumerate(regions, start=1):
        colour = PALETTE[(n - 1) % len(PALETTE)]
        if region.box is not None:
            x0, y0, x1, y1 = region.box
            inside = Image.new("L", canvas.size, 0)
            ImageDraw.Draw(inside).rectangle((x0 * canvas.width, y0 * canvas.height,
                                              x1 * canvas.width - 1, y1 * canvas.height - 1), fill=255)
        else:
            inside = decode_mask(region.mask or "").resize(canvas.size, Image.Resampling.NEAREST)
        tint = Image.blend(canvas, Image.new("RGB", canvas.size, colour), 0.55)
        canvas = Image.composite(tint, canvas, inside)
        box = inside.getbbox()
        if box:
            ImageDraw.Draw(canvas).text((box[0] + 3, box[1] + 2), str(n), fill=(0, 0, 0))
    return canvas
