"""The Extras tab's work: upscale finished pictures with one or two upscalers. No gradio, no HTTP.

An ExtrasRequest runs as a job in the same queue as generations (the upscaler models compete for the same
CPU/GPU), and the result carries A1111's "postprocessing" text: "Postprocess upscale by: 2, Postprocess
upscaler: Lanczos". A picture's own `parameters` are kept, so PNG Info still shows how it was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from modules.core.infotext import format_infotext, read_image_infotext
from modules.core.requests import Limits, RequestError
from modules.core.results import DetectedMap, JobControl
from modules.engine.faces.restorers import FaceRestoreError, FaceRestorers
from modules.engine.upscaling import UpscalerRegistry

RESIZE_MODES = ("Scale by", "Scale to")  # A1111's index order (its API's resize_mode)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
MAX_SCALE = 8.0


@dataclass(frozen=True)
class ExtrasRequest:
    """A1111's extras fields. `init_images` (and `mask`, always None) have the generation requests' names so
    the job queue drops the pictures of finished jobs the same way."""

    init_images: tuple[Image.Image, ...] = ()
    names: tuple[str, ...] = ()  # the uploads' file names, for the batch's result list
    resize_mode: int = 0  # index into RESIZE_MODES
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    # Face restoration after the upscale, GFPGAN then CodeFormer (A1111's postprocessing order); 0 = off.
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0  # CodeFormer's w: 0 = the most restoration (A1111's Extras default)
    mask: None = None
    mode: str = "extras"  # how the job queue and the outputs tell it from a generation

    @property
    def batch_count(self) -> int:  # what progress reports count in
        return max(1, len(self.init_images))

    @property
    def steps(self) -> int:
        return 1


@dataclass
class ExtrasResult:
    request: ExtrasRequest
    images: list[Image.Image]
    infotexts: list[str]  # the pictures' own parameters (may be "")
    postprocessing: list[str]  # A1111's "postprocessing" text per picture
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    detected_maps: list[DetectedMap] = field(default_factory=list)  # always empty: as GenerationResult, for viewers
    memory: dict[str, Any] = field(default_factory=dict)  # a generation's memory report; none here
    worker: str = ""  # run in this process (the head), never on a Ray worker

    @property
    def info(self) -> str:
        return self.postprocessing[0] if self.postprocessing else ""


def _check_faces(request: ExtrasRequest, faces: FaceRestorers | None) -> dict[str, float]:
    """The face restoration fields, checked; a restorer asked for must have its model file here."""
    values = {}
    for name, label in (("gfpgan_visibility", "GFPGAN visibility"), ("codeformer_visibility", "CodeFormer visibility"),
                        ("codeformer_weight", "CodeFormer weight")):
        try:
            values[name] = float(getattr(request, name))
        except (TypeError, ValueError, OverflowError):
            raise RequestError(f"{label} must be a number, got {getattr(request, name)!r}.") from None
        if not 0.0 <= values[name] <= 1.0:  # also refuses NaN
            raise RequestError(f"{label} must be between 0 and 1, but is {values[name]:g}.")
    for restorer, key in (("GFPGAN", "gfpgan_visibility"), ("CodeFormer", "codeformer_visibility")):
        if values[key] > 0:
            if faces is None:
                raise RequestError("Face restoration is not set up on this server (no face restorer folders).")
            try:
                faces.check(restorer)
            except FaceRestoreError as exc:
                raise RequestError(f"{exc} (Set {key} to 0 to upscale without it.)") from None
    return values


def restore_one(image: Image.Image, request: ExtrasRequest, faces: FaceRestorers | None
                ) -> tuple[Image.Image, dict[str, Any]]:
    """GFPGAN then CodeFormer, each blended by its visibility, and A1111's postprocessing fields for them."""
    info: dict[str, Any] = {}
    if request.gfpgan_visibility > 0 and faces is not None:
        image, _ = faces.restore(image, "GFPGAN", request.gfpgan_visibility)
        info["GFPGAN visibility"] = round(request.gfpgan_visibility, 3)
    if request.codeformer_visibility > 0 and faces is not None:
        image, _ = faces.restore(image, "CodeFormer", request.codeformer_visibility, request.codeformer_weight)
        info["CodeFormer visibility"] = round(request.codeformer_visibility, 3)
        info["CodeFormer weight"] = round(request.codeformer_weight, 3)
    return image, info


def validate_extras(request: ExtrasRequest, upscalers: UpscalerRegistry, limits: Limits,
                    faces: FaceRestorers | None = None) -> ExtrasRequest:
    if not request.init_images:
        raise RequestError("No picture to upscale: upload one (or several for a batch).")
    try:
        mode = int(request.resize_mode)
        scale = float(request.upscaling_resize)
        width, height = int(request.upscaling_resize_w), int(request.upscaling_resize_h)
        visibility = float(request.extras_upscaler_2_visibility)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int() of an infinite number
        raise RequestError(f"Extras: a number field is not a finite number ({exc}).") from None
    limit = limits.max_input_side
    if mode not in (0, 1):
        raise RequestError(f"resize_mode must be 0 ({RESIZE_MODES[0]}) or 1 ({RESIZE_MODES[1]}), but is {mode}.")
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise RequestError(f"Upscale by must be above 0 and at most {MAX_SCALE:g}, but is {scale:g}.")
    if mode == 1 and not (1 <= width <= limit and 1 <= height <= limit):
        raise RequestError(f"'Scale to' width and height (upscaling_resize_w/h) must be between 1 and {limit} "
                           f"pixels, but are {width} and {height}.")
    if not 0.0 <= visibility <= 1.0:
        raise RequestError(f"Upscaler 2 visibility must be between 0 and 1, but is {visibility:g}.")
    names = []
    for label, name in (("Upscaler 1", request.upscaler_1), ("Upscaler 2", request.upscaler_2)):
        try:
            names.append(upscalers.find(name))
        except LookupError as exc:
            raise RequestError(f"{label}: {exc.args[0]}") from None
    for i, image in enumerate(request.init_images):
        if not isinstance(image, Image.Image):
            raise RequestError(f"Picture {i + 1} is not a picture.")
        w, h = target_size(image.size, mode, scale, width, height)
        if max(w, h) > limit or min(w, h) < 1:
            raise RequestError(f"Picture {i + 1} would become {w}x{h} pixels; the limit is {limit} a side.")
        try:
            image.load()  # the API opens uploads lazily: decoded here, at submit time, and not in the worker
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise RequestError(f"Picture {i + 1} could not be read ({exc}). Upload a complete PNG, JPEG or WebP "
                               "file.") from None
    return ExtrasRequest(init_images=tuple(request.init_images), names=tuple(request.names), resize_mode=mode,
                         upscaling_resize=scale, upscaling_resize_w=width, upscaling_resize_h=height,
                         upscaling_crop=bool(request.upscaling_crop), upscaler_1=names[0], upscaler_2=names[1],
                         extras_upscaler_2_visibility=visibility, **_check_faces(request, faces))


def target_size(size: tuple[int, int], mode: int, scale: float, width: int, height: int) -> tuple[int, int]:
    """The upscaled size before any crop: "Scale to" covers width x height keeping the ratio."""
    if mode == 1:
        scale = max(width / size[0], height / size[1])
    return max(1, int(size[0] * scale)), max(1, int(size[1] * scale))


def upscale_one(image: Image.Image, request: ExtrasRequest, upscalers: UpscalerRegistry,
                control: JobControl | None = None
                ) -> tuple[Image.Image, str]:
    """(picture, A1111's postprocessing text) for one picture."""
    info: dict[str, Any] = {}
    if request.upscaler_1 == "None":
        return image, ""  # as in A1111: nothing to do without a first upscaler
    mode = request.resize_mode
    if mode == 1:
        info["Postprocess upscale to"] = f"{request.upscaling_resize_w}x{request.upscaling_resize_h}"
    else:
        info["Postprocess upscale by"] = request.upscaling_resize
    size = target_size(image.size, mode, request.upscaling_resize, request.upscaling_resize_w,
                       request.upscaling_resize_h)
    out = upscalers.upscale_to(image, request.upscaler_1, *size)
    if request.upscaler_2 != "None" and request.extras_upscaler_2_visibility > 0:
        second = upscalers.upscale_to(image, request.upscaler_2, *size)
        if second.mode != out.mode:
            second = second.convert(out.mode)
        out = Image.blend(out, second, request.extras_upscaler_2_visibility)
    if mode == 1 and request.upscaling_crop:
        w, h = request.upscaling_resize_w, request.upscaling_resize_h
        left, top = (out.width - w) // 2, (out.height - h) // 2
        out = out.crop((left, top, left + w, top + h))
        info["Postprocess crop to"] = f"{w}x{h}"
    info["Postprocess upscaler"] = request.upscaler_1
    if request.upscaler_2 != "None" and request.extras_upscaler_2_visibility > 0:
        info["Postprocess upscaler 2"] = request.upscaler_2
    # format_infotext puts prompt lines first; with none, the text is the parameter line alone.
    return out, format_infotext("", "", info)


def run_extras(request: ExtrasRequest, upscalers: UpscalerRegistry, control: JobControl | None = None,
               faces: FaceRestorers | None = None) -> ExtrasResult:
    """Upscale (then restore the faces of) every picture of the request; an interrupt keeps the pictures done."""
    from modules.core.results import StepInfo

    result = ExtrasResult(request=request, images=[], infotexts=[], postprocessing=[])
    total = len(request.init_images)
    for index, image in enumerate(request.init_images):
        if control is not None and control.interrupt.is_set():
            result.interrupted = True
            break
        out, text = upscale_one(image, request, upscalers, control)
        out, restored = restore_one(out, request, faces)
        if restored:
            text = ", ".join(part for part in (text, format_infotext("", "", restored)) if part)
        result.images.append(out)
        result.infotexts.append(read_image_infotext(image) or "")
        result.postprocessing.append(text)
        if control is not None and control.on_step is not None:
            control.on_step(StepInfo(1, 1, index, total))
    return result


def images_from_folder(folder: str | Path, limit: int = 1000) -> tuple[list[Image.Image], list[str]]:
    """The pictures in a folder (not its subfolders), by name; unreadable files are skipped by name."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise RequestError(f"Input folder {str(path)!r} does not exist or is not a folder.")
    images, names = [], []
    for file in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:limit]:
        try:
            with Image.open(file) as opened:
                opened.load()
                images.append(opened.copy())
            names.append(file.name)
        except (OSError, SyntaxError, Image.DecompressionBombError):
            continue
    if not images:
        raise RequestError(f"No readable pictures ({', '.join(IMAGE_SUFFIXES)}) in {str(path)!r}.")
    return images, names
