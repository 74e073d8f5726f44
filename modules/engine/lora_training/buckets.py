"""Aspect-ratio buckets: each training picture is cropped and resized to the bucket whose shape is nearest to its
own, among sizes of about `resolution`² pixels that the UNet can take (multiples of `step`), so wide and tall
pictures are trained whole instead of centre-cropped to a square (kohya's bucketing, in a few lines)."""

from __future__ import annotations

from PIL import Image


def bucket_sizes(resolution: int, step: int, max_ratio: float = 2.0) -> list[tuple[int, int]]:
    """(width, height) pairs, multiples of `step`, area at most resolution², aspect between 1/max_ratio and
    max_ratio; the square resolution is always one of them."""
    area = resolution * resolution
    sizes = {(resolution, resolution)}
    width = step
    while width <= resolution * max_ratio:
        height = (area // width) // step * step
        if height >= step and 1 / max_ratio <= width / height <= max_ratio:
            sizes.add((width, height))
        width += step
    return sorted(sizes)


def nearest_bucket(size: tuple[int, int], buckets: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest to the picture's (ties: the larger area)."""
    ratio = size[0] / size[1]
    return min(buckets, key=lambda b: (abs(b[0] / b[1] - ratio), -b[0] * b[1]))


def fit(image: Image.Image, bucket: tuple[int, int]) -> Image.Image:
    """Scale the picture to cover the bucket, then crop the centre: nothing is stretched."""
    image = image.convert("RGB")
    width, height = bucket
    scale = max(width / image.width, height / image.height)
    scaled = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                          Image.Resampling.LANCZOS)
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))
