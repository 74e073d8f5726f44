"""ControlNet preprocessors ("modules" in sd-webui-controlnet's words): picture -> control map.

A registry, not a global: the app builds one with `PreprocessorRegistry.default(annotators_dir)` and
extensions add theirs with `register`. A preprocessor is `fn(image, resolution, threshold_a=..., threshold_b=...)
-> PIL picture` where `resolution` is the detect resolution (the shorter side it works at).

The ones that need downloaded weights (HED, PidiNet, lineart, MLSD, depth, normal, OpenPose) load them from
`models/annotators/` through controlnet-aux's `from_pretrained(<local folder>)`; a missing file is named in
the error, and nothing tries the network. controlnet-aux is imported per detector, lazily: its package import
pulls in every annotator and prints pages of warnings.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

log = logging.getLogger(__name__)

_GLOBAL_RANDOM = threading.Lock()
Detector = Callable[..., Image.Image]  # fn(image, resolution, **params) -> PIL picture


# sd-webui-controlnet's IP-Adapter "preprocessors" (what its API clients send as `module`) and the CLIP vision
# encoder each runs (None: the one the adapter needs). The picture goes to the encoder as it is.
REFERENCE_MODULES: dict[str, str | None] = {
    "ip-adapter-auto": None,
    "ip-adapter_clip_sd15": "vit-h",
    "ip-adapter_clip_h": "vit-h",
    "ip-adapter_clip_sdxl_plus_vith": "vit-h",
    "ip-adapter_clip_sdxl": "vit-bigg",
    "ip-adapter_clip_g": "vit-bigg",
    "ip-adapter_clip_bigg": "vit-bigg",
}


def is_reference_module(name: str | None) -> bool:
    """Whether a unit's module makes it an IP-Adapter unit (the FaceID ones too, which are refused later)."""
    return (name or "").strip().casefold().startswith("ip-adapter")


class PreprocessorError(RuntimeError):
    """The preprocessor cannot run; the message says what to do."""


@dataclass(frozen=True)
class Slider:
    label: str
    default: float
    minimum: float
    maximum: float
    step: float = 1.0


@dataclass
class Preprocessor:
    name: str
    fn: Detector
    sliders: tuple[Slider, ...] = ()  # threshold_a, threshold_b, as sd-webui-controlnet labels them
    files: tuple[str, ...] = ()  # needed in models/annotators/
    lines: bool = False  # a thin-line map: keep the lines when it is shrunk (see `fit_to`)
    source: str = "built-in"

    def defaults(self) -> dict[str, float]:
        return {key: s.default for key, s in zip(("threshold_a", "threshold_b"), self.sliders)}


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # A drawing with a transparent background: strokes on white, as the sketch canvas shows them.
        base = Image.new("RGBA", image.size, (255, 255, 255, 255))
        base.alpha_composite(image.convert("RGBA"))
        return base.convert("RGB")
    return image.convert("RGB")


def resize_short_side(image: Image.Image, resolution: int) -> Image.Image:
    w, h = image.size
    k = resolution / min(w, h)
    if abs(k - 1) < 1e-6:
        return image
    return image.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.LANCZOS if k < 1
                        else Image.Resampling.BICUBIC)


def _aux(module: str) -> Any:
    """A controlnet-aux submodule. Its package import loads every annotator and warns about optional ones
    (mediapipe, timm names): noise for our users, so it is kept out of the log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def none(image: Image.Image, resolution: int, **_: Any) -> Image.Image:
    return _rgb(image)


def invert(image: Image.Image, resolution: int, **_: Any) -> Image.Image:
    """Black lines on white (a pencil drawing) -> white lines on black, what line ControlNets were trained on."""
    return ImageOps.invert(_rgb(image))


def scribble_threshold(image: Image.Image, resolution: int, threshold_a: float = 64, threshold_b: float = 1,
                       **_: Any) -> Image.Image:
    """A drawing -> clean white strokes on black, for dark-on-light and light-on-dark drawings alike: the paper
    is the picture's most common tone, and a stroke is whatever differs from it by more than `threshold_a`.
    `threshold_b` thickens the strokes by that many pixels at the detect resolution."""
    grey = np.asarray(resize_short_side(_rgb(image), resolution).convert("L"), dtype=np.float32)
    paper = float(np.median(grey))
    strokes = np.abs(grey - paper) > float(threshold_a)
    out = Image.fromarray(np.where(strokes, 255, 0).astype(np.uint8), mode="L")
    grow = int(round(threshold_b))
    if grow > 0:
        out = out.filter(ImageFilter.MaxFilter(2 * grow + 1))
    return out.convert("RGB")


def canny(image: Image.Image, resolution: int, threshold_a: float = 100, threshold_b: float = 200,
          **_: Any) -> Image.Image:
    import cv2

    arr = np.asarray(resize_short_side(_rgb(image), resolution))
    edges = cv2.Canny(arr, int(threshold_a), int(threshold_b))
    return Image.fromarray(edges).convert("RGB")


def lineart_standard(image: Image.Image, resolution: int, **_: Any) -> Image.Image:
    detector = _aux("controlnet_aux.lineart_standard").LineartStandardDetector()
    return _pil(detector(resize_short_side(_rgb(image), resolution), detect_resolution=resolution))


def shuffle(image: Image.Image, resolution: int, **_: Any) -> Image.Image:
    detector = _aux("controlnet_aux.shuffle").ContentShuffleDetector()
    picture = resize_short_side(_rgb(image), resolution)
    # Seeded from the picture, so the same input gives the same map (and the same generation).
    seed = int(np.asarray(picture, dtype=np.uint64).sum() % (2**31))
    with _GLOBAL_RANDOM:  # controlnet-aux draws from NumPy's global generator; previews run on other threads
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            out = detector(picture, detect_resolution=resolution, image_resolution=resolution)
        finally:
            np.random.set_state(state)
    return _pil(out)


def tile_resample(image: Image.Image, resolution: int, threshold_a: float = 1.0, **_: Any) -> Image.Image:
    """Tile ControlNets take a blurry copy of the picture: shrink by `threshold_a` (the "down sampling rate")."""
    picture = resize_short_side(_rgb(image), resolution)
    rate = max(1.0, float(threshold_a))
    if rate > 1:
        small = picture.resize((max(1, round(picture.width / rate)), max(1, round(picture.height / rate))),
                               Image.Resampling.BOX)
        picture = small.resize(picture.size, Image.Resampling.BILINEAR)
    return picture


def _pil(out: Any) -> Image.Image:
    if isinstance(out, np.ndarray):
        out = Image.fromarray(out)
    return out.convert("RGB")


# --------------------------------------------------------------------------------- annotator models


@dataclass(frozen=True)
class AnnotatorSpec:
    module: str  # controlnet_aux submodule
    cls: str
    files: tuple[str, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()  # extra from_pretrained arguments
    call: tuple[tuple[str, Any], ...] = ()  # extra call arguments


ANNOTATORS: dict[str, AnnotatorSpec] = {
    "softedge_hed": AnnotatorSpec("controlnet_aux.hed", "HEDdetector", ("ControlNetHED.pth",)),
    "scribble_hed": AnnotatorSpec("controlnet_aux.hed", "HEDdetector", ("ControlNetHED.pth",), call=(("scribble", True),)),
    "softedge_pidinet": AnnotatorSpec("controlnet_aux.pidi", "PidiNetDetector", ("table5_pidinet.pth",)),
    "scribble_pidinet": AnnotatorSpec("controlnet_aux.pidi", "PidiNetDetector", ("table5_pidinet.pth",),
                                      call=(("scribble", True),)),
    "lineart_realistic": AnnotatorSpec("controlnet_aux.lineart", "LineartDetector", ("sk_model.pth", "sk_model2.pth")),
    "lineart_coarse": AnnotatorSpec("controlnet_aux.lineart", "LineartDetector", ("sk_model.pth", "sk_model2.pth"),
                                    call=(("coarse", True),)),
    "lineart_anime": AnnotatorSpec("controlnet_aux.lineart_anime", "LineartAnimeDetector", ("netG.pth",)),
    "mlsd": AnnotatorSpec("controlnet_aux.mlsd", "MLSDdetector", ("mlsd_large_512_fp32.pth",)),
    "depth_midas": AnnotatorSpec("controlnet_aux.midas", "MidasDetector", ("dpt_hybrid-midas-501f0c75.pt",)),
    "depth_zoe": AnnotatorSpec("controlnet_aux.zoe", "ZoeDetector", ("ZoeD_M12_N.pt",)),
    "normal_bae": AnnotatorSpec("controlnet_aux.normalbae", "NormalBaeDetector", ("scannet.pt",)),
    "openpose": AnnotatorSpec("controlnet_aux.open_pose", "OpenposeDetector",
                              ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth")),
    "openpose_full": AnnotatorSpec("controlnet_aux.open_pose", "OpenposeDetector",
                                   ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"),
                                   call=(("include_hand", True), ("include_face", True))),
}
LINE_MAPS = {"canny", "scribble_threshold", "invert", "lineart_standard", "scribble_hed", "scribble_pidinet",
             "softedge_hed", "softedge_pidinet", "lineart_realistic", "lineart_coarse", "lineart_anime", "mlsd"}


class _AnnotatorDetector:
    """Loads its controlnet-aux detector from the annotators folder on first use, once."""

    def __init__(self, name: str, spec: AnnotatorSpec, folder: Path) -> None:
        self.name, self.spec, self.folder = name, spec, folder
        self._detector: Any = None
        self._lock = threading.Lock()

    def missing(self) -> list[str]:
        return [f for f in self.spec.files if not (self.folder / f).is_file()]

    def _load(self) -> Any:
        with self._lock:
            if self._detector is None:
                missing = self.missing()
                if missing:
                    raise PreprocessorError(
                        f"The {self.name} preprocessor needs {', '.join(missing)} in {self.folder} "
                        "(the file names controlnet-aux uses). Copy the file there and try again.")
                cls = getattr(_aux(self.spec.module), self.spec.cls)
                try:
                    self._detector = cls.from_pretrained(str(self.folder), **dict(self.spec.kwargs))
                except Exception as exc:  # a corrupt or unsafe pickle: say which file, keep the app up
                    raise PreprocessorError(f"The {self.name} preprocessor could not load its weights from "
                                            f"{self.folder}: {exc}") from exc
            return self._detector

    def __call__(self, image: Image.Image, resolution: int, **_: Any) -> Image.Image:
        detector = self._load()
        out = detector(_rgb(image), detect_resolution=resolution, image_resolution=resolution, **dict(self.spec.call))
        return _pil(out)


# ----------------------------------------------------------------------------------------- registry


@dataclass
class PreprocessorRegistry:
    annotators_dir: Path | None = None
    _items: dict[str, Preprocessor] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, annotators_dir: Path | None = None) -> PreprocessorRegistry:
        reg = cls(annotators_dir=annotators_dir)
        reg.register("none", none)
        reg.register("invert", invert, lines=True)
        reg.register("scribble_threshold", scribble_threshold, lines=True,
                     sliders=(Slider("Stroke contrast", 64, 1, 254), Slider("Line growth (px)", 1, 0, 8)))
        reg.register("canny", canny, lines=True,
                     sliders=(Slider("Low Threshold", 100, 1, 255), Slider("High Threshold", 200, 1, 255)))
        reg.register("lineart_standard", lineart_standard, lines=True)
        reg.register("shuffle", shuffle)
        reg.register("tile_resample", tile_resample, sliders=(Slider("Down Sampling Rate", 1.0, 1.0, 8.0, 0.01),))
        folder = annotators_dir or Path("models/annotators")
        for name, spec in ANNOTATORS.items():
            reg.register(name, _AnnotatorDetector(name, spec, folder), files=spec.files, lines=name in LINE_MAPS,
                         source="controlnet-aux")
        for name in REFERENCE_MODULES:  # the reference picture as it is: the CLIP encoder does the rest
            reg.register(name, none, source="IP-Adapter")
        # sd-webui-controlnet's longer names, which its API clients send.
        reg.aliases.update({
            "invert (from white bg & black line)": "invert",
            "lineart_standard (from white bg & black line)": "lineart_standard",
            "threshold": "scribble_threshold",
            "scribble": "scribble_threshold",
            "tile": "tile_resample",
            "content shuffle": "shuffle",
            "hed": "softedge_hed",
            "pidinet": "softedge_pidinet",
            "lineart": "lineart_realistic",
            "depth": "depth_midas",
            "normal_map": "normal_bae",
        })
        return reg

    def register(self, name: str, fn: Detector, *, sliders: tuple[Slider, ...] = (), files: tuple[str, ...] = (),
                 lines: bool = False, source: str = "built-in") -> None:
        """Add a preprocessor; extensions call this through the extension API. A taken name is refused, so
        an extension cannot silently replace a built-in one (or another extension's)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("A preprocessor needs a non-empty name.")
        if not callable(fn):
            raise ValueError(f"Preprocessor {name!r}: expected a function fn(image, resolution, **params) -> image.")
        name = name.strip()
        taken = self._find(name)
        if taken is not None:
            raise ValueError(f"Cannot register preprocessor {name!r}: the name is already used (registered by "
                             f"{self._items[taken].source}).")
        self._items[name] = Preprocessor(name, fn, tuple(sliders), tuple(files), lines, source)

    def _find(self, name: str) -> str | None:
        folded = name.casefold()
        return next((key for key in self._items if key.casefold() == folded), None)

    def canonical(self, name: str | None) -> str:
        key = (name or "none").strip()
        found = self._find(key)
        if found is not None:
            return found
        return self.aliases.get(key.casefold(), key)

    def get(self, name: str | None) -> Preprocessor:
        key = self.canonical(name)
        if key not in self._items:
            raise PreprocessorError(f"Unknown preprocessor {name!r}. Available: {', '.join(self.names())}.")
        return self._items[key]

    def names(self) -> list[str]:
        return list(self._items)

    def missing_files(self, name: str) -> list[str]:
        fn = self.get(name).fn
        return fn.missing() if isinstance(fn, _AnnotatorDetector) else []

    def available(self) -> list[str]:
        return [n for n in self._items if not self.missing_files(n)]

    def run(self, name: str | None, image: Image.Image, resolution: int, threshold_a: float | None = None,
            threshold_b: float | None = None) -> Image.Image:
        pre = self.get(name)
        params = pre.defaults()
        if threshold_a is not None and len(pre.sliders) > 0:
            params["threshold_a"] = threshold_a
        if threshold_b is not None and len(pre.sliders) > 1:
            params["threshold_b"] = threshold_b
        try:
            out = pre.fn(image, int(resolution), **params)
        except PreprocessorError:
            raise
        except Exception as exc:  # an extension's or a library's bug fails this unit's job, with its name
            log.exception("preprocessor %s failed", pre.name)
            raise PreprocessorError(f"The {pre.name} preprocessor failed: {exc}") from exc
        if not isinstance(out, Image.Image):
            raise PreprocessorError(f"The {pre.name} preprocessor returned {type(out).__name__}, not a picture.")
        return out.convert("RGB")


def fit_to(control_map: Image.Image, width: int, height: int, resize_mode: int, lines: bool) -> Image.Image:
    """The map at the output size, by sd-webui-controlnet's resize modes (0 just resize, 1 crop and resize,
    2 resize and fill). A thin-line map shrunk a lot would fade to grey: its lines are first thickened by the
    shrink factor, so a 3-pixel pen stroke on a 512-pixel canvas is still a line at 48 pixels."""
    from modules.engine.imaging import resize_image

    if resize_mode == 2:  # fill with black, not stretched edges: empty bands mean "no control here"
        k = min(width / control_map.width, height / control_map.height)
    else:
        k = max(width / control_map.width, height / control_map.height) if resize_mode == 1 else \
            min(width / control_map.width, height / control_map.height)
    if lines and k < 0.75:
        control_map = control_map.filter(ImageFilter.MaxFilter(int(1.5 / k) | 1))
    if resize_mode == 2:
        inner = control_map.resize((max(1, round(control_map.width * k)), max(1, round(control_map.height * k))),
                                   Image.Resampling.LANCZOS)
        out = Image.new("RGB", (width, height))
        out.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
        return out
    return resize_image(resize_mode, control_map, width, height)


def pixel_perfect_resolution(image: Image.Image, width: int, height: int, resize_mode: int) -> int:
    """The detect resolution that makes the map come out at the output size without rescaling (sd-webui-
    controlnet's "pixel perfect"): cover for crop-and-resize, fit otherwise."""
    k_w, k_h = width / image.width, height / image.height
    k = min(k_w, k_h) if resize_mode == 2 else max(k_w, k_h)
    return max(64, int(round(k * min(image.width, image.height))))
