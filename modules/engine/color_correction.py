"""A1111's img2img colour correction (option `img2img_color_correction`): the result's colours matched to the
input picture's, so repeated img2img passes do not drift in hue and saturation.

A1111 matches the histograms of the result to the input's in LAB space, then lays that under the result in
luminosity mode: colours from the match, light and shade from the generation. Here the same two steps are done in
LAB directly: the a and b channels (colour) come from the histogram match, L (lightness) stays the result's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import color, exposure


def match_colours(result: Image.Image, reference: Image.Image) -> Image.Image:
    """`result` with its colour distribution matched to `reference`'s (resized to `result` if they differ)."""
    if reference.size != result.size:
        reference = reference.resize(result.size, Image.Resampling.LANCZOS)
    ours = color.rgb2lab(np.asarray(result.convert("RGB")))
    theirs = color.rgb2lab(np.asarray(reference.convert("RGB")))
    matched = exposure.match_histograms(ours, theirs, channel_axis=-1)
    matched[..., 0] = ours[..., 0]
    rgb = np.clip(color.lab2rgb(matched) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")
