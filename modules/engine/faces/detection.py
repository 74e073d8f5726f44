"""Finds faces in a picture with no download: the LBP frontal-face cascade that scikit-image ships (OpenCV's own
Haar files are not in opencv-python-headless 5). Frontal and near-frontal faces are found; profiles are not, and
then restoration leaves the picture as it is, as A1111 does when its detector finds nothing."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

DETECT_SIDE = 640  # A1111 detects on a copy resized to 640 too: fast, and faces of 1/20 of the side still show
MIN_FACE = 20  # pixels at the detection size; the cascade's window is 24
# The cascade sees only brightness, and fires on grey blobs (a patch of scikit-image's own astronaut photo). In a
# picture with colour, skin has some colour too, whatever its tone: a grey detection there is dropped.
COLOURFUL, GREY = 4.0, 3.0  # mean |Cb-128| + |Cr-128| of the picture, of a detection's centre


@dataclass(frozen=True)
class FaceBox:
    """A face in picture pixels: left, top, width, height."""

    left: int
    top: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def overlap(self, other: FaceBox) -> float:
        """How much of the smaller box lies inside the other (0..1)."""
        w = min(self.left + self.width, other.left + other.width) - max(self.left, other.left)
        h = min(self.top + self.height, other.top + other.height) - max(self.top, other.top)
        if w <= 0 or h <= 0:
            return 0.0
        return (w * h) / min(self.area, other.area)


class FaceDetector:
    """scikit-image's LBP cascade, read once on first use (a few ms) and shared by the jobs of this server.
    `cascade_file`: another LBP cascade in OpenCV's XML format (a user's, in models/adetailer) instead."""

    def __init__(self, cascade_file: str | None = None) -> None:
        self._cascade: Any = None
        self._file = cascade_file
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._cascade is None:
                from skimage.data import lbp_frontal_face_cascade_filename
                from skimage.feature import Cascade

                self._cascade = Cascade(self._file or lbp_frontal_face_cascade_filename())
            return self._cascade

    def detect(self, image: Image.Image) -> list[FaceBox]:
        """The faces found, largest first, overlapping detections merged."""
        scale = min(1.0, DETECT_SIDE / max(image.size))
        small = image.convert("RGB")
        if scale < 1.0:
            small = small.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.BILINEAR)
        side = min(small.size)
        if side < MIN_FACE:
            return []
        found = self._get().detect_multi_scale(img=np.asarray(small), scale_factor=1.2, step_ratio=1,
                                               min_size=(MIN_FACE, MIN_FACE), max_size=(side, side))
        chroma = np.abs(np.asarray(small.convert("YCbCr"), dtype=np.float32)[..., 1:] - 128.0).sum(axis=2)
        colourful = float(chroma.mean()) > COLOURFUL
        boxes = sorted((FaceBox(round(d["c"] / scale), round(d["r"] / scale), round(d["width"] / scale),
                                round(d["height"] / scale)) for d in found
                        if not (colourful and _centre(chroma, d).mean() < GREY)), key=lambda b: -b.area)
        kept: list[FaceBox] = []
        for box in boxes:  # the cascade can report one face twice at neighbouring scales
            if all(box.overlap(other) < 0.5 for other in kept):
                kept.append(box)
        return kept


def _centre(values: np.ndarray, found: dict[str, int]) -> np.ndarray:
    r, c, w, h = found["r"], found["c"], found["width"], found["height"]
    return values[r + h // 4:r + h - h // 4, c + w // 4:c + w - w // 4]
