"""Picture operations behind img2img, inpainting and outpainting, done as A1111 does them. PIL and numpy only.

Masks are PIL "L" images: 255 = regenerate, 0 = keep. Compositing is integer arithmetic, so wherever the
overlay mask is 0 the original pixel comes back bit for bit, whatever the VAE did to it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (x2, y2 exclusive), PIL's crop box

JUST_RESIZE, CROP_AND_RESIZE, RESIZE_AND_FILL = 0, 1, 2
LANCZOS = Image.Resampling.LANCZOS


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """An RGB copy; transparent parts become the background colour (A1111's img2img background: white)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, background + (255,))
        base.alpha_composite(rgba)
        return base.convert("RGB")
    return image.convert("RGB")


def resize_image(mode: int, image: Image.Image, width: int, height: int) -> Image.Image:
    """A1111's resize modes: 0 just resize (stretch), 1 crop and resize (cover, centred),
    2 resize and fill (fit, centred, empty bands filled by stretching the picture's edges)."""
    if image.size == (width, height):
        return image.copy()
    if mode == JUST_RESIZE:
        return image.resize((width, height), LANCZOS)
    ratio, src_ratio = width / height, image.width / image.height
    cover = mode == CROP_AND_RESIZE
    if (ratio > src_ratio) == cover:  # scale to the target width
        src_w, src_h = width, max(1, round(image.height * width / image.width))
    else:  # scale to the target height
        src_w, src_h = max(1, round(image.width * height / image.height)), height
    resized = image.resize((src_w, src_h), LANCZOS)
    left, top = (width - src_w) // 2, (height - src_h) // 2
    out = Image.new(image.mode, (width, height))
    out.paste(resized, (left, top))
    if mode == RESIZE_AND_FILL:
        inner = np.asarray(resized)
        pad = ((top, height - top - src_h), (left, width - left - src_w)) + ((0, 0),) * (inner.ndim - 2)
        out = Image.fromarray(np.pad(inner, pad, mode="edge"), mode=image.mode)
    return out


def mask_from_alpha(layer: Image.Image | np.ndarray, threshold: int = 0) -> Image.Image:
    """A brush layer (transparent except the strokes) -> mask: 255 where alpha > threshold."""
    arr = np.asarray(layer)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise ValueError("a brush layer must be RGBA: its strokes are found from the alpha channel")
    return Image.fromarray(np.where(arr[..., 3] > threshold, 255, 0).astype(np.uint8), mode="L")


def blur_mask(mask: Image.Image, radius: float) -> Image.Image:
    return mask.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else mask.copy()


def double_mask(mask: Image.Image) -> Image.Image:
    """A1111's overlay mask for whole-picture inpainting: the blurred mask x2, so every pixel the model was
    asked to repaint (mask >= 50%) is fully taken from the result, with a soft edge outside it."""
    return mask.point(lambda v: min(255, v * 2))


def crop_region(mask: Image.Image, padding: int) -> Box | None:
    """The box around the mask's painted pixels, grown by `padding` and clipped to the picture."""
    box = mask.getbbox()
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return max(0, x1 - padding), max(0, y1 - padding), min(mask.width, x2 + padding), min(mask.height, y2 + padding)


def _grow(lo: int, hi: int, length: int, limit: int) -> tuple[int, int]:
    """Grow [lo, hi) to `length` around its centre, shifted to stay inside [0, limit)."""
    length = min(length, limit)
    extra = length - (hi - lo)
    lo -= extra // 2
    hi = lo + length
    if lo < 0:
        lo, hi = 0, length
    if hi > limit:
        lo, hi = limit - length, limit
    return lo, hi


def expand_to_aspect(box: Box, width: int, height: int, image_w: int, image_h: int) -> Box:
    """Grow a crop box so its aspect ratio is width:height (as far as the picture allows), so the crop is not
    distorted when scaled to the working resolution."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w / h > width / height:
        y1, y2 = _grow(y1, y2, round(w * height / width), image_h)
    else:
        x1, x2 = _grow(x1, x2, round(h * width / height), image_w)
    return x1, y1, x2, y2


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill" masked content: paint the masked area with blurred colours from around it."""
    rgba = image.convert("RGBA")
    keep = Image.eval(mask.convert("L"), lambda v: 255 - v)
    premultiplied = Image.new("RGBa", image.size)
    premultiplied.paste(rgba.convert("RGBa"), mask=keep)
    out = Image.new("RGBA", image.size)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = premultiplied.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            out.alpha_composite(blurred)
    return out.convert("RGB")


def composite(generated: Image.Image, original: Image.Image, overlay: Image.Image | None,
              box: Box | None = None) -> Image.Image:
    """The result on the original: `generated` (scaled into `box` when given) where the overlay mask is 255,
    the original where it is 0, blended in between. Exact: a 0 in the mask gives back the original pixel."""
    base = original.convert("RGB")
    gen = generated.convert("RGB")
    if box is not None:
        pasted = base.copy()
        pasted.paste(gen.resize((box[2] - box[0], box[3] - box[1]), LANCZOS), box[:2])
        gen = pasted
    elif gen.size != base.size:
        gen = gen.resize(base.size, LANCZOS)
    if overlay is None:
        return gen
    m = np.asarray(overlay.convert("L"), dtype=np.uint32)[..., None]
    g, o = np.asarray(gen, dtype=np.uint32), np.asarray(base, dtype=np.uint32)
    return Image.fromarray(((g * m + o * (255 - m) + 127) // 255).astype(np.uint8), mode="RGB")


def outpaint_canvas(image: Image.Image, left: int, right: int, up: int, down: int, fill: str = "edge",
                    seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """(canvas, mask): the picture on a larger canvas, the new area filled by stretching the picture's edges
    ("edge") or with noise in the picture's colours ("noise"); the mask is 255 on the new area only."""
    arr = np.asarray(image.convert("RGB"))
    pad = ((up, down), (left, right), (0, 0))
    canvas = np.pad(arr, pad, mode="edge")
    new_area = np.pad(np.zeros(arr.shape[:2], dtype=bool), pad[:2], constant_values=True)
    if fill == "noise":
        rng = np.random.default_rng(seed)
        mean = arr.reshape(-1, 3).mean(0)
        std = arr.reshape(-1, 3).std(0) + 16.0
        noise = rng.normal(mean, std, size=canvas.shape).clip(0, 255).astype(np.uint8)
        canvas = np.where(new_area[..., None], noise, canvas)
    elif fill != "edge":
        raise ValueError(f"outpaint fill must be 'edge' or 'noise', not {fill!r}")
    mask = Image.fromarray(np.where(new_area, 255, 0).astype(np.uint8), mode="L")
    return Image.fromarray(canvas.astype(np.uint8), mode="RGB"), mask


def pad_to_multiple(image: Image.Image, multiple: int = 8, value: int | None = None) -> Image.Image:
    """Grow right and bottom to a multiple of `multiple`: by repeating the edge, or with a constant value."""
    width = -(-image.width // multiple) * multiple
    height = -(-image.height // multiple) * multiple
    if (width, height) == image.size:
        return image.copy()
    arr = np.asarray(image)
    pad = ((0, height - image.height), (0, width - image.width)) + ((0, 0),) * (arr.ndim - 2)
    if value is None:
        out = np.pad(arr, pad, mode="edge")
    else:
        out = np.pad(arr, pad, mode="constant", constant_values=value)
    return Image.fromarray(out, mode=image.mode)
