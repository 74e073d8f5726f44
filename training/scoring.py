"""Automatic scoring of a picture against the scene its caption asked for.

Used by the demo-model evaluation and by end-to-end tests that assert what an image shows. It must
score ground-truth pictures ~100% (see tests/unit/test_shapes.py), otherwise model scores mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from training.shapes import (
    BACKGROUND_COLOURS,
    OBJECT_COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    Scene,
    shape_mask,
)

# Colour distance (RGB, 0-255) above which a pixel is "not background".
FOREGROUND_DISTANCE = 70.0
REFERENCE_SIZE = 256


@dataclass(frozen=True)
class Reading:
    """What a picture shows, as far as the scorer can tell. Fields are None when there is no object."""

    background: str
    colour: str | None
    shape: str | None
    position: str | None
    size: str | None
    object_mask: np.ndarray  # bool, the largest foreground region


def _nearest(colour: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    return min(palette, key=lambda name: float(np.sum((np.array(palette[name]) - colour) ** 2)))


def _corner_colour(rgb: np.ndarray) -> np.ndarray:
    k = max(1, rgb.shape[0] // 16)
    corners = [rgb[:k, :k], rgb[:k, -k:], rgb[-k:, :k], rgb[-k:, -k:]]
    return np.median(np.concatenate([c.reshape(-1, 3) for c in corners]), axis=0)


@lru_cache(maxsize=None)
def _template(shape: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A large reference mask of the shape and its bbox (x0, y0, x1, y1) relative to centre, per unit radius."""
    size = REFERENCE_SIZE
    r = size * 0.3
    mask = np.asarray(shape_mask(shape, (size / 2, size / 2), r, size)) >= 128
    ys, xs = np.nonzero(mask)
    return mask, ((xs.min() - size / 2) / r, (ys.min() - size / 2) / r, (xs.max() + 1 - size / 2) / r,
                  (ys.max() + 1 - size / 2) / r)


def _classify_shape(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    best, best_iou = SHAPES[0], -1.0
    size = mask.shape[0]
    for shape in SHAPES:
        _, (tx0, ty0, tx1, ty1) = _template(shape)
        # Fit the template's bounding box to the observed one (height decides the radius).
        r = max((y1 - y0) / (ty1 - ty0), 1e-3)
        cx = (x0 + x1) / 2 - (tx0 + tx1) / 2 * r
        cy = (y0 + y1) / 2 - (ty0 + ty1) / 2 * r
        template = np.asarray(shape_mask(shape, (cx, cy), r, size)) >= 128
        iou = float(np.sum(template & mask)) / max(1.0, float(np.sum(template | mask)))
        if iou > best_iou:
            best, best_iou = shape, iou
    return best


def read_picture(image: Image.Image) -> Reading:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    bg_rgb = _corner_colour(rgb)
    background = _nearest(bg_rgb, BACKGROUND_COLOURS)
    foreground = np.sqrt(np.sum((rgb - bg_rgb) ** 2, axis=-1)) > FOREGROUND_DISTANCE
    labels, count = ndimage.label(foreground)
    if count == 0:
        return Reading(background, None, None, None, None, foreground)
    sizes = ndimage.sum(foreground, labels, index=range(1, count + 1))
    region = labels == (int(np.argmax(sizes)) + 1)
    if region.sum() < max(4, rgb.shape[0] * rgb.shape[1] // 400):
        return Reading(background, None, None, None, None, region)
    # Median of the inner pixels: anti-aliased edges are a blend with the background.
    inner = ndimage.binary_erosion(region) if region.sum() > 30 else region
    colour = _nearest(np.median(rgb[inner if inner.any() else region], axis=0), OBJECT_COLOURS)
    side = rgb.shape[0]
    ys, xs = np.nonzero(region)
    centre = ((xs.min() + xs.max() + 1) / 2 / side, (ys.min() + ys.max() + 1) / 2 / side)
    position = min(POSITIONS, key=lambda p: (POSITIONS[p][0] - centre[0]) ** 2 + (POSITIONS[p][1] - centre[1]) ** 2)
    extent = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) / side / 2
    size = min(SIZES, key=lambda s: abs(SIZES[s] * 1.9 - extent * 2))
    return Reading(background, colour, _classify_shape(region), position, size, region)


ASPECTS = ("background", "colour", "shape", "position", "size")


def score(image: Image.Image, scene: Scene) -> dict[str, bool]:
    """Which aspects of the scene the picture gets right."""
    reading = read_picture(image)
    return {aspect: getattr(reading, aspect) == getattr(scene, aspect) for aspect in ASPECTS}
