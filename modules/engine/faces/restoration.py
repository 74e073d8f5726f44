"""Restores the faces of one picture: crop each face with a margin, bring it to the model's 512x512, restore,
and paste it back through a feathered mask, blended by `visibility` (A1111's GFPGAN/CodeFormer visibility).

No torch here: the model is a plain callable on a 512x512 RGB uint8 array, so the geometry is tested alone. The
detector gives an axis-aligned box (no landmarks), so faces are not rotated upright as facexlib does for A1111;
the models still restore a tilted face, a little less well. Pixels outside each face's crop are never touched,
and the mask is exactly 0 on the crop's border, so no seam shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from modules.engine.faces.detection import FaceBox, FaceDetector

FACE_SIZE = 512  # what GFPGAN, CodeFormer and RestoreFormer are trained on (FFHQ crops)
# The LBP box spans brows to mouth; FFHQ crops show the whole head with some background: about 1.9x the box,
# with the box's centre a little above the crop's.
MARGIN = 1.9
CENTRE_BELOW = 0.06  # the crop's centre sits this fraction of its side below the box's centre
FEATHER = 0.12  # the mask rises from 0 at the crop's border to 1 over this fraction of its side

RestoreFn = Callable[[np.ndarray], np.ndarray]  # (512, 512, 3) uint8 RGB -> same shape


@dataclass(frozen=True)
class FaceRegion:
    face: FaceBox
    crop: tuple[int, int, int, int]  # left, top, right, bottom in picture pixels (may reach past the picture)

    def inside(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The crop clipped to the picture: the only pixels restoration may change."""
        left, top, right, bottom = self.crop
        return max(0, left), max(0, top), min(width, right), min(height, bottom)


def crop_region(face: FaceBox) -> tuple[int, int, int, int]:
    side = max(8, round(max(face.width, face.height) * MARGIN))
    cx = face.left + face.width / 2
    cy = face.top + face.height / 2 + CENTRE_BELOW * side
    left, top = round(cx - side / 2), round(cy - side / 2)
    return left, top, left + side, top + side


def feather_mask(side: int) -> np.ndarray:
    """(side, side) float32 in [0, 1]: 0 on the border, 1 inside, a smooth ramp between."""
    ramp = max(1.0, FEATHER * side)
    edge = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    distance = np.minimum(edge[:, None], edge[None, :])  # to the nearest border
    t = np.clip(distance / ramp, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)  # smoothstep: no visible edge where the ramp ends


def _cut(pixels: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The crop of an (H, W, 3) array; parts past the picture repeat its edge (the models expect a full square)."""
    height, width = pixels.shape[:2]
    left, top, right, bottom = crop
    pad = ((max(0, -top), max(0, bottom - height)), (max(0, -left), max(0, right - width)), (0, 0))
    inner = pixels[max(0, top):min(height, bottom), max(0, left):min(width, right)]
    return np.pad(inner, pad, mode="edge") if any(p for pair in pad[:2] for p in pair) else inner


def restore_region(pixels: np.ndarray, region: FaceRegion, restore: RestoreFn, visibility: float) -> None:
    """Restores one face of `pixels` (H, W, 3 uint8) in place."""
    left, top, right, bottom = region.crop
    side = right - left
    face = Image.fromarray(np.ascontiguousarray(_cut(pixels, region.crop)))
    small = np.asarray(face.resize((FACE_SIZE, FACE_SIZE), Image.Resampling.LANCZOS))
    restored = restore(small)
    if restored.shape != small.shape:
        raise RuntimeError(f"the face restorer returned {restored.shape}, expected {small.shape}")
    back = np.asarray(Image.fromarray(restored).resize((side, side), Image.Resampling.LANCZOS), dtype=np.float32)
    weight = feather_mask(side)[..., None] * float(visibility)
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = region.inside(width, height)
    if x1 <= x0 or y1 <= y0:
        return
    part = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    old = pixels[y0:y1, x0:x1].astype(np.float32)
    mixed = old + (back[part] - old) * weight[part]  # weight 0 gives back the old pixel exactly
    pixels[y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def restore_faces(image: Image.Image, restore: RestoreFn, detector: FaceDetector, visibility: float = 1.0
                  ) -> tuple[Image.Image, list[FaceRegion]]:
    """(the picture with its faces restored, where). Visibility 0 or no face: the picture itself, untouched."""
    if visibility <= 0:
        return image, []
    regions = [FaceRegion(face, crop_region(face)) for face in detector.detect(image)]
    if not regions:
        return image, []
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    pixels = np.array(image.convert("RGB"))
    for region in regions:
        restore_region(pixels, region, restore, min(1.0, visibility))
    out = Image.fromarray(pixels, "RGB")
    if alpha is not None:
        out.putalpha(alpha)
    out.info.update(image.info)  # the picture's own infotext stays with it (Extras keeps `parameters`)
    return out, regions
