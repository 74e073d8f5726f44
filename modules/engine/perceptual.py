"""A picture's perceptual descriptor: a small vector, with no model, for "find similar pictures".

Used when models/clip_vision holds no CLIP vision encoder (image_embeddings.py chooses). Five blocks, each
normalised to unit length and weighted, so the dot product of two descriptors is the weighted sum of five
cosine similarities. "Figure" means what stands out from the border's colour (a crude figure/ground split):

- ground colours (64) and figure colours (64): soft 4x4x4 histograms in CIELAB, square-rooted (the dot of two
  is then the Bhattacharyya coefficient): how much of each colour, wherever it is. Split in two so a small red
  circle on blue is "red on blue", not "blue with a little red";
- colour layout (48): the mean Lab colour of a 4x4 grid, centred on mid grey: "red top-left, blue below"
  differs from its mirror image;
- edge orientations (12): magnitude-weighted histogram of gradient directions (0-180 degrees) of lightness:
  straight-sided shapes peak, curves spread evenly; independent of position and size;
- silhouette profile (12): how far the figure's outline lies from its centre, over the mean distance: a circle
  is one spike at 1, a square spreads over 1-1.41, a triangle and a star wider. Independent of position and
  size, which the colour layout is not: it ranks a red circle on blue over a red square on blue.

Why not a thumbnail's pixels: they compare position and size far more than content (a small red circle on the
left matches a red square there better than a large red circle in the middle). The weights were chosen on the
demo model's pictures (4 shapes x 8 colours x 6 backgrounds, drawn and generated): shape and the figure's
colour lead, the layout only breaks ties. A CLIP vision model knows far more (faces, styles, objects); this is
the fallback that needs no download. numpy and PIL only; a few milliseconds per picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["DIMENSIONS", "KIND", "describe"]

KIND = "perceptual-v1"  # stored beside each vector: a new version of this descriptor is a new kind
SIDE = 64  # the picture is squeezed to SIDE x SIDE: the profile is a ratio, the histograms are shares
COLOUR_BINS = 4  # per Lab axis
GRID = 4
ORIENTATIONS = 12
PROFILE_BINS = 12
PROFILE_RANGE = (0.3, 1.7)  # outline distance / mean outline distance
WEIGHTS = {"ground": 0.10, "figure": 0.20, "layout": 0.05, "edges": 0.25, "silhouette": 0.40}
DIMENSIONS = 2 * COLOUR_BINS**3 + GRID * GRID * 3 + ORIENTATIONS + PROFILE_BINS


def describe(image: Image.Image) -> np.ndarray:
    """The unit-length float32 descriptor of `image` (any mode, any size)."""
    rgb = np.asarray(_small(image), dtype=np.float32) / 255.0
    lab = _lab(rgb)
    figure = _figure(lab)
    blocks = {
        "ground": np.sqrt(_colour_histogram(lab[~figure])),  # everything, when nothing stands out
        "figure": np.sqrt(_colour_histogram(lab[figure])) if figure.any() else np.zeros(COLOUR_BINS**3),
        "layout": _layout(lab),
        "edges": np.sqrt(_orientations(lab[..., 0])),
        "silhouette": _silhouette_profile(figure),  # not square-rooted: a circle's one spike must stay sharp
    }
    parts = [np.sqrt(WEIGHTS[name]) * _unit(block) for name, block in blocks.items()]
    return _unit(np.concatenate(parts)).astype(np.float32)


def _small(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        image = flat
    image = image.convert("RGB")
    image.draft("RGB", (SIDE * 2, SIDE * 2))  # a big JPEG decodes at a fraction of its size
    return image.resize((SIDE, SIDE), Image.Resampling.BOX if min(image.size) > SIDE else Image.Resampling.BILINEAR)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else np.zeros_like(vector)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-1) to CIELAB (D65): L 0-100, a and b about -100..100."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]],
                            dtype=np.float32)
    xyz /= np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """Soft (linear-interpolated) 3-D histogram: a colour on a bin edge counts half in each, so a slightly
    different shade never jumps to another bin."""
    lows, highs = np.array([0, -80, -110], np.float32), np.array([100, 100, 100], np.float32)
    position = (pixels - lows) / (highs - lows) * (COLOUR_BINS - 1)
    position = np.clip(position, 0, COLOUR_BINS - 1 - 1e-6)
    base = np.floor(position).astype(np.int64)
    frac = position - base
    histogram = np.zeros(COLOUR_BINS**3, np.float64)
    for corner in range(8):
        offset = np.array([(corner >> axis) & 1 for axis in range(3)])
        weight = np.prod(np.where(offset, frac, 1 - frac), axis=1)
        index = np.minimum(base + offset, COLOUR_BINS - 1)
        flat = (index[:, 0] * COLOUR_BINS + index[:, 1]) * COLOUR_BINS + index[:, 2]
        histogram += np.bincount(flat, weight, minlength=COLOUR_BINS**3)
    return histogram / max(histogram.sum(), 1e-12)


def _layout(lab: np.ndarray) -> np.ndarray:
    cells = lab.reshape(GRID, SIDE // GRID, GRID, SIDE // GRID, 3).mean(axis=(1, 3))
    return ((cells - np.array([50, 0, 0], np.float32)) / 100).reshape(-1)


def _gradients(channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    padded = np.pad(channel, 1, mode="edge")
    gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) * 2 + (padded[:-2, 2:] - padded[:-2, :-2]) + (
        padded[2:, 2:] - padded[2:, :-2])
    gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) * 2 + (padded[2:, :-2] - padded[:-2, :-2]) + (
        padded[2:, 2:] - padded[:-2, 2:])
    return gx, gy


def _orientations(lightness: np.ndarray) -> np.ndarray:
    gx, gy = _gradients(lightness)
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi) / np.pi * ORIENTATIONS  # unsigned: an edge, not its side
    low = np.floor(angle).astype(np.int64) % ORIENTATIONS
    frac = angle - np.floor(angle)
    histogram = np.bincount(low.ravel(), (magnitude * (1 - frac)).ravel(), minlength=ORIENTATIONS)
    histogram += np.bincount(((low + 1) % ORIENTATIONS).ravel(), (magnitude * frac).ravel(), minlength=ORIENTATIONS)
    return histogram / max(histogram.sum(), 1e-12)


def _figure(lab: np.ndarray) -> np.ndarray:
    """The pixels that clearly differ from the border's colour (a crude figure/ground); all False when
    nothing stands out or everything does."""
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    distance = np.linalg.norm(lab - np.median(border, axis=0), axis=-1)
    figure = distance > max(12.0, 0.5 * float(distance.max()))
    if figure.sum() < 4 or figure.all():
        return np.zeros(figure.shape, bool)
    return figure


def _silhouette_profile(figure: np.ndarray) -> np.ndarray:
    """Histogram of the outline's distances from the figure's centre, over their mean (see the docstring)."""
    if not figure.any():
        return np.zeros(PROFILE_BINS)
    inner = figure[1:-1, 1:-1] & figure[:-2, 1:-1] & figure[2:, 1:-1] & figure[1:-1, :-2] & figure[1:-1, 2:]
    outline = figure.copy()
    outline[1:-1, 1:-1] &= ~inner
    ys, xs = np.nonzero(figure)
    oy, ox = np.nonzero(outline)
    radii = np.hypot(oy - ys.mean(), ox - xs.mean())
    if radii.mean() < 1e-6:
        return np.zeros(PROFILE_BINS)
    ratio = radii / radii.mean()
    low, high = PROFILE_RANGE
    position = np.clip((ratio - low) / (high - low) * (PROFILE_BINS - 1), 0, PROFILE_BINS - 1 - 1e-6)
    base = np.floor(position).astype(np.int64)
    frac = position - base
    histogram = np.bincount(base, 1 - frac, minlength=PROFILE_BINS) + np.bincount(base + 1, frac,
                                                                                  minlength=PROFILE_BINS)
    return histogram[:PROFILE_BINS] / max(histogram.sum(), 1e-12)
