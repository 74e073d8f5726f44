"""Detect and redraw (ADetailer's way): find regions in a finished picture, and inpaint each again with the unit's
prompt, denoising and size, pasted back through a feathered mask. The settings are `modules.core.detailer`'s; the
inpainting itself is the job's own inpaint path, handed in by `generation` as a callable.

Detectors, chosen so that nothing is downloaded and no licence is imposed on users:
- `face_lbp`, built in: scikit-image's LBP frontal-face cascade (its model file ships inside scikit-image, BSD).
- LBP cascade files in OpenCV's XML format put in models/adetailer (e.g. OpenCV's lbpcascade_profileface.xml),
  read by scikit-image the same way.
ADetailer's own YOLOv8 files (.pt) need the ultralytics package, which is AGPL-3.0: it is not part of this WebUI,
and such files are refused with that reason rather than half-loaded. These detectors give no score, so each
detection counts as confidence 1.0.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageOps

from modules.core.detailer import BUILTIN_FACE, DetailerUnit, region_prompt, skipped
from modules.core.requests import MAX_SEED, GenerationRequest, RequestError
from modules.engine.faces.detection import FaceDetector

log = logging.getLogger(__name__)

CASCADE_SUFFIX = ".xml"
YOLO_SUFFIXES = (".pt", ".pth", ".safetensors", ".onnx")
ORIGINAL = 1  # MASKED_CONTENT index of "original": the region starts from the picture, as ADetailer's does

InpaintFn = Callable[[GenerationRequest], Image.Image]


class DetailerError(ValueError):
    """A detection model that cannot be used; the message names the models there are."""


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # left, top, right, bottom in picture pixels
    score: float = 1.0


class Detectors:
    """The detection models: the built-in face detector and the LBP cascades in `folder` (models/adetailer),
    each read once on first use and shared by the jobs of this server."""

    def __init__(self, folder: Path | None, faces: FaceDetector | None = None) -> None:
        self.folder = folder
        self._faces = faces or FaceDetector()
        self._files: dict[str, FaceDetector] = {}
        self._lock = threading.Lock()

    def _listed(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def names(self) -> list[str]:
        """What a unit may name as its model, the built-in one first."""
        return [BUILTIN_FACE] + [p.name for p in self._listed() if p.suffix.lower() == CASCADE_SUFFIX]

    def check(self, name: str) -> None:
        if name in self.names():
            return
        available = ", ".join(self.names())
        if Path(name).suffix.lower() in YOLO_SUFFIXES:
            raise DetailerError(
                f"ADetailer model {name!r} is a YOLO model: those need the ultralytics package, which is AGPL-3.0 "
                f"licensed and not part of this WebUI. Available here: {available} (LBP cascade .xml files in "
                "models/adetailer are read too).")
        raise DetailerError(f"ADetailer model {name!r} not found. Available: {available}.")

    def _detector(self, name: str) -> FaceDetector:
        if name == BUILTIN_FACE:
            return self._faces
        self.check(name)
        assert self.folder is not None  # check() found the file there
        with self._lock:
            if name not in self._files:
                self._files[name] = FaceDetector(str(self.folder / name))
            return self._files[name]

    def detect(self, name: str, image: Image.Image) -> list[Detection]:
        """The regions found, largest first."""
        try:
            boxes = self._detector(name).detect(image)
        except DetailerError:
            raise
        except (OSError, ValueError, KeyError, AttributeError, SyntaxError) as exc:  # XML ParseError is a SyntaxError
            raise DetailerError(f"ADetailer model {name!r} could not be read ({exc}). It must be an LBP cascade in "
                                "OpenCV's XML format (Haar cascades are not supported).") from None
        return [Detection((b.left, b.top, b.left + b.width, b.top + b.height)) for b in boxes]


def _kept(unit: DetailerUnit, found: list[Detection], size: tuple[int, int]) -> list[Detection]:
    """ADetailer's filters: confidence, the area ratio range, then the k largest."""
    area = size[0] * size[1]
    kept = [d for d in found if d.score >= unit.confidence
            and unit.mask_min_ratio <= (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) / area <= unit.mask_max_ratio]
    if unit.mask_k_largest:
        kept = sorted(kept, key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))[:unit.mask_k_largest]
    return kept


def region_masks(unit: DetailerUnit, found: list[Detection], size: tuple[int, int]) -> list[Image.Image]:
    """One "L" mask per region (255 = redraw): the box grown (or shrunk) by dilate_erode / 2 on each side, moved
    by the offsets (y up, as in ADetailer), then merged or inverted as the unit says."""
    grow = unit.dilate_erode // 2 if unit.dilate_erode >= 0 else -((-unit.dilate_erode) // 2)
    masks = []
    for detection in _kept(unit, found, size):
        left, top, right, bottom = detection.box
        box = (left - grow + unit.x_offset, top - grow - unit.y_offset,
               right + grow + unit.x_offset, bottom + grow - unit.y_offset)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # eroded away
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
        if mask.getbbox() is not None:  # moved off the picture: nothing to redraw
            masks.append(mask)
    if unit.mask_merge_invert == "None" or not masks:
        return masks
    merged = masks[0]
    for mask in masks[1:]:
        merged = ImageChops.lighter(merged, mask)
    if unit.mask_merge_invert == "Merge and Invert":
        merged = ImageOps.invert(merged)
    return [merged] if merged.getbbox() is not None else []


def region_request(request: GenerationRequest, unit: DetailerUnit, image: Image.Image, mask: Image.Image,
                   seed: int, subseed: int, index: int = 0) -> GenerationRequest:
    """The inpaint of the region at `index` in detection order (which part of a `[SEP]` prompt it takes): the
    job's settings, the unit's own, nothing that acts after a picture is made."""
    if unit.inpaint_only_masked and unit.use_inpaint_width_height:
        width, height = unit.inpaint_width, unit.inpaint_height
    else:  # the picture's own size, as ADetailer takes the job's (the hires size after the hires fix)
        width, height = max(8, image.width // 8 * 8), max(8, image.height // 8 * 8)
    sampler, schedule = request.sampler, request.schedule_type
    if unit.use_sampler:
        sampler = unit.sampler
        if unit.scheduler.strip().lower() not in ("", "use same scheduler"):
            schedule = unit.scheduler
    return replace(
        request, mode="inpaint", init_images=(image,), mask=mask, prompt=region_prompt(unit.prompt, request.prompt, index),
        negative_prompt=region_prompt(unit.negative_prompt, request.negative_prompt, index),
        denoising_strength=unit.denoising_strength, mask_blur=unit.mask_blur, inpainting_fill=ORIGINAL,
        inpaint_full_res=unit.inpaint_only_masked, inpaint_full_res_padding=unit.inpaint_only_masked_padding,
        inpainting_mask_invert=False, outpaint=(0, 0, 0, 0), resize_mode=0, width=width, height=height,
        steps=unit.steps if unit.use_steps else request.steps,
        cfg_scale=unit.cfg_scale if unit.use_cfg_scale else request.cfg_scale, sampler=sampler,
        schedule_type=schedule, clip_skip=unit.clip_skip if unit.use_clip_skip else request.clip_skip,
        seed=seed % (MAX_SEED + 1), subseed=subseed % (MAX_SEED + 1), batch_count=1, batch_size=1,
        enable_hr=False, refiner_checkpoint="", restore_faces=False, control_units=(), detailer=(),
        soft_inpainting=None, color_correction=False, infotext_fields={})


class JobDetailer:
    """Details a job's pictures one by one; counts, per unit, the pictures where nothing was found."""

    def __init__(self, request: GenerationRequest, detectors: Detectors, inpaint: InpaintFn) -> None:
        self.request, self.detectors, self.inpaint = request, detectors, inpaint
        self.pictures = 0
        self.missed = [0] * len(request.detailer)

    def __call__(self, image: Image.Image, seed: int, subseed: int) -> Image.Image:
        self.pictures += 1
        for index, unit in enumerate(self.request.detailer):
            masks = region_masks(unit, self.detectors.detect(unit.model, image), image.size)
            if not masks:
                self.missed[index] += 1
            for j, mask in enumerate(masks):  # ADetailer's seeds: the picture's + the region's index
                if skipped(region_prompt(unit.prompt, self.request.prompt, j)):
                    continue
                image = self.inpaint(region_request(self.request, unit, image, mask, seed + j, subseed + j, j))
        return image

    def notes(self) -> list[str]:
        notes = []
        for index, missed in enumerate(self.missed):
            if missed:
                unit = self.request.detailer[index]
                which = "the picture" if self.pictures == 1 else f"{missed} of {self.pictures} pictures"
                notes.append(f"ADetailer unit {index + 1} ({unit.model}): nothing was found in {which}, left as drawn"
                             + (" (the built-in detector finds faces seen from the front, at least 20 pixels wide)."
                                if unit.model == BUILTIN_FACE else "."))
        return notes


def check(request: GenerationRequest, detectors: Detectors, samplers: Any) -> GenerationRequest:
    """Before the job waits in the queue: each unit's model is one the server has, and a separate sampler is one
    it knows (by A1111's names, made canonical here). Raises RequestError naming what there is."""
    units = []
    for index, unit in enumerate(request.detailer):
        try:
            detectors.check(unit.model)
        except DetailerError as exc:
            raise RequestError(f"ADetailer unit {index + 1}: {exc}") from None
        if unit.use_sampler:
            schedule = None if unit.scheduler.strip().lower() in ("", "use same scheduler") else unit.scheduler
            try:
                spec, resolved = samplers.resolve_with_schedule(unit.sampler, schedule)
            except ValueError as exc:
                raise RequestError(f"ADetailer unit {index + 1}: {exc}") from None
            unit = replace(unit, sampler=spec.name, scheduler=resolved if schedule else unit.scheduler)
        units.append(unit)
    return replace(request, detailer=tuple(units))
