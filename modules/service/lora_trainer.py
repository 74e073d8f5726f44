"""LoRA training as a job on the shared queue: check a training request (who may train, name, checkpoint family,
pictures and captions), run the engine's loop with progress, loss and sample pictures, keep a resumable state
outside outputs, and write the LoRA under models/Lora, listed at once with its sample picture as card preview.

Resuming: the state is kept under `<cache>/training/<run id>/` every `checkpoint_every` steps and when the job is
interrupted. The run id is fixed when the request is checked and saved with the queued job, so a job the WebUI
stopped (shutdown, crash) continues where it was; a request submitted again with the same name, checkpoint,
pictures and settings continues a run its owner interrupted. The state is deleted once the LoRA is written.

Names: a name that exists in models/Lora is refused (nothing a user made is overwritten); the write is atomic.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from modules.core.infotext import parse_infotext, read_image_infotext
from modules.core.prompts import extract_loras
from modules.core.requests import RequestError
from modules.core.results import DetectedMap, JobControl, StepInfo
from modules.engine.lora_training import kohya
from modules.engine.lora_training.trainer import TRAINABLE_FAMILIES, Example, Hooks, Progress, TrainSettings, train_lora
from modules.engine.models.manager import ModelManager
from modules.service.jobs import NotAllowed

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w][\w .,()+=\-\[\]]{0,119}$")
MAX_PICTURES = 1000
MAX_SIDE = 4096
# Admin settings (Settings store keys) and their defaults: who may train and for how long.
WHO_SETTING, MAX_STEPS_SETTING, MAX_MINUTES_SETTING = "lora_training_who", "lora_training_max_steps", \
    "lora_training_max_minutes"
WHO_CHOICES = ("everyone", "admins")
SETTING_DEFAULTS: dict[str, Any] = {WHO_SETTING: "everyone", MAX_STEPS_SETTING: 5000, MAX_MINUTES_SETTING: 0}
UNSUPPORTED = {"flux": "Flux-class", "sd3": "SD 3", "sdxl-refiner": "the SDXL refiner"}


@dataclass(frozen=True)
class TrainImage:
    """One training picture; an empty caption is read from its infotext, else the request's typed caption."""

    image: Image.Image
    caption: str = ""


@dataclass(frozen=True)
class LoraTrainRequest:
    """A LoRA training job, as the Train tab and `POST /api/v1/train/lora` send it.

    The pictures ride in `init_images` because that is the field the queue empties once a job is finished
    (kept jobs stay small), as for every request kind."""

    name: str
    checkpoint: str
    init_images: tuple[TrainImage, ...] = ()
    trigger: str = ""
    caption: str = ""  # the typed caption for pictures without one
    steps: int = 500
    rank: int = 8
    alpha: float = 0.0  # 0: the rank (scale 1)
    learning_rate: float = 1e-4
    batch_size: int = 1
    resolution: int = 0  # 0: the checkpoint's native size (512 SD 1.x, 1024 SDXL, the demo model's own)
    buckets: bool = True
    ema_decay: float = 0.0
    min_snr_gamma: float = 5.0
    caption_dropout: float = 0.0
    sample_every: int = 0
    sample_prompt: str = ""  # empty: the first caption
    seed: int = 0
    # Keep the model as it was without the trigger word (output preservation; 0: off, needs a trigger).
    preserve: float = 1.0
    text_encoder_lr: float = 0.0  # 0: the text encoder is not trained; else its LoRA's learning rate
    max_seconds: float = 0.0  # set at submit from the admin's limit
    run_id: str = ""  # set at check: where the resumable state lives
    mask: None = None
    mode: str = "train_lora"

    @property
    def batch_count(self) -> int:
        return 1


@dataclass
class LoraTrainResult:
    """Shaped like a generation's result (the queue and the jobs API read it alike): `images` are the final
    sample pictures (never saved to outputs or History), `lora` the new LoRA's name."""

    request: LoraTrainRequest
    lora: str = ""
    path: str = ""
    steps_done: int = 0
    losses: list[float] = field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    subseeds: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    detected_maps: list[DetectedMap] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)  # a generation's memory report; training has none
    worker: str = ""  # trained in this process, never on a Ray worker

    @property
    def info(self) -> str:
        if self.interrupted:
            return (f"Training interrupted at step {self.steps_done}; nothing was written to models/Lora. "
                    "Submit the same training again to continue from there.")
        return f"LoRA saved as {self.lora} ({self.steps_done} steps)"


@dataclass
class TrainStepInfo(StepInfo):
    """A step of training: StepInfo (the queue's progress) plus the loss so far; `preview` is the newest sample."""

    loss: float = 0.0
    losses: list[float] = field(default_factory=list)
    samples: list[Image.Image] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ permissions
def check_allowed(settings: Any, user: str, is_admin: bool, request: LoraTrainRequest) -> LoraTrainRequest:
    """The admin's limits: who may train, the most steps, the longest run (stamped on the request)."""
    who = settings.get(WHO_SETTING) or "everyone"
    if who == "admins" and not is_admin:
        raise NotAllowed("Only admins may train LoRAs on this server (Settings → LoRA training). "
                              "Ask an admin to train it, or to let everyone train.")
    max_steps = int(settings.get(MAX_STEPS_SETTING) or 0)
    if max_steps and request.steps > max_steps and not is_admin:
        raise RequestError(f"Steps must be at most {max_steps} on this server (the admin's limit), but are "
                           f"{request.steps}. Lower the steps, or raise the learning rate a little instead.")
    minutes = float(settings.get(MAX_MINUTES_SETTING) or 0)
    return replace(request, max_seconds=0.0 if is_admin or not minutes else minutes * 60)


# ------------------------------------------------------------------------------------------ captions
def _without(caption: str, trigger: str) -> str:
    """The caption with its trigger word taken out (and the comma that joined it)."""
    text = re.sub(rf"(?<!\w){re.escape(trigger.strip())}(?!\w)", "", caption)
    text = re.sub(r"\s*,(\s*,)+", ",", text)  # the empty part the trigger left between two commas
    return re.sub(r"\s{2,}", " ", text).strip(" ,")


def caption_of(picture: TrainImage, typed: str, trigger: str) -> str:
    """The picture's own caption, else the prompt of its infotext (without <lora:> tags), else the typed one;
    the trigger word is added at the end unless it is there (last: a causal text encoder leaves the words before
    it as the base model reads them)."""
    caption = picture.caption.strip()
    if not caption:
        text = read_image_infotext(picture.image)
        if text:
            caption = extract_loras(parse_infotext(text).prompt)[0].strip().strip(",").strip()
    caption = caption or typed.strip()
    trigger = trigger.strip()
    if trigger and not re.search(rf"(^|\W){re.escape(trigger)}(\W|$)", caption):
        caption = f"{caption}, {trigger}" if caption else trigger
    return caption


def history_pictures(history: Any, ids: list[int], owner: str | None) -> list[TrainImage]:
    """Pictures from History by id (only the caller's own unless `owner` is None); captions from their infotext."""
    pictures = []
    for image_id in ids:
        entry = history.get(int(image_id), owner)
        path = history.file_of(entry)
        if not path.is_file():
            raise RequestError(f"History picture {image_id}'s file is missing; choose another picture.")
        with Image.open(path) as opened:
            opened.load()
            image = opened.copy()
        pictures.append(TrainImage(image, extract_loras(entry.prompt)[0].strip()))
    return pictures


# ------------------------------------------------------------------------------------------ checking
def _target(models: ModelManager, name: str) -> Path:
    name = name.strip().removesuffix(".safetensors")
    if not name:
        raise RequestError("Give the LoRA a name (it becomes models/Lora/<name>.safetensors and <lora:name:1>).")
    if not _NAME.match(name):
        raise RequestError(f"LoRA name {name!r} is not allowed: use letters, digits, spaces and . , - _ ( ) [ ] + =, "
                           "start with a letter or digit, at most 120 characters, no folders.")
    if models.lora_dir is None:
        raise RequestError("No LoRA folder is configured (--lora-dir); the trained LoRA would have nowhere to go.")
    target = Path(models.lora_dir) / f"{name}.safetensors"
    if target.exists() or models.find_lora(name) is not None:
        raise RequestError(f"A LoRA named {name} already exists in models/Lora; choose another name "
                           "(training never overwrites).")
    return target


def _numbers(request: LoraTrainRequest) -> None:
    checks = [
        (1 <= request.steps <= 100_000, f"Steps must be between 1 and 100000, but are {request.steps}."),
        (1 <= request.rank <= 256, f"Rank must be between 1 and 256 (8-32 is usual), but is {request.rank}."),
        (0 <= request.alpha <= 1024, f"Alpha must be between 0 (= the rank) and 1024, but is {request.alpha}."),
        (0 < request.learning_rate <= 0.1,
         f"Learning rate must be above 0 and at most 0.1 (1e-4 is usual), but is {request.learning_rate}."),
        (1 <= request.batch_size <= 64, f"Batch size must be between 1 and 64, but is {request.batch_size}."),
        (request.resolution == 0 or 32 <= request.resolution <= 2048,
         f"Resolution must be 0 (the model's own) or between 32 and 2048, but is {request.resolution}."),
        (0 <= request.ema_decay < 1, f"EMA decay must be 0 (off) or below 1 (0.99 is usual), but is {request.ema_decay}."),
        (0 <= request.min_snr_gamma <= 100, f"Min-SNR γ must be 0 (off) to 100 (5 is usual), not {request.min_snr_gamma}."),
        (0 <= request.caption_dropout < 1, f"Caption dropout must be from 0 to below 1, not {request.caption_dropout}."),
        (0 <= request.preserve <= 10, f"Preservation must be from 0 (off) to 10 (1 is usual), not {request.preserve}."),
        (0 <= request.text_encoder_lr <= 0.1, f"Text encoder learning rate must be 0 (not trained) to 0.1 (5e-5 is "
                                              f"usual), not {request.text_encoder_lr}."),
        (request.sample_every >= 0, f"Sample every N steps must be 0 (at the end only) or more, not {request.sample_every}."),
    ]
    for ok, message in checks:
        if not ok:
            raise RequestError(message)


def _pictures(request: LoraTrainRequest) -> None:
    if not request.init_images:
        raise RequestError("Add pictures to train on: choose them from History or upload a folder "
                           "(10-50 pictures of the style or subject are usual).")
    if len(request.init_images) > MAX_PICTURES:
        raise RequestError(f"At most {MAX_PICTURES} pictures per training, but {len(request.init_images)} were given.")
    for n, picture in enumerate(request.init_images, start=1):
        if not isinstance(picture, TrainImage) or not isinstance(picture.image, Image.Image):
            raise RequestError(f"Picture {n} is not a picture.")
        if min(picture.image.size) < 8 or max(picture.image.size) > MAX_SIDE:
            raise RequestError(f"Picture {n} is {picture.image.width}x{picture.image.height}: sides must be 8 to "
                               f"{MAX_SIDE} pixels.")


def _fingerprint(request: LoraTrainRequest) -> str:
    """Same name, checkpoint, pictures, captions and settings -> the same run (so it resumes)."""
    digest = hashlib.sha256()
    fields = {k: v for k, v in asdict(replace(request, init_images=(), run_id="", max_seconds=0.0)).items()}
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for picture in request.init_images:
        digest.update(picture.caption.encode() + b"\0")
        digest.update(hashlib.sha256(picture.image.tobytes()).digest())
        digest.update(repr((picture.image.size, picture.image.mode)).encode())
    return digest.hexdigest()[:24]


def check(request: LoraTrainRequest, models: ModelManager) -> LoraTrainRequest:
    """Everything that can be checked before the job waits; RequestError says what to fix."""
    _numbers(request)
    _target(models, request.name)
    try:
        info = models.resolve(request.checkpoint or None)
    except LookupError as exc:
        raise RequestError(str(exc.args[0])) from None
    if not _trainable(info.family) or info.inpainting:
        what = "an inpainting checkpoint" if info.inpainting else UNSUPPORTED.get(info.family or "", info.family_label)
        raise RequestError(f"LoRA training works with SD 1.x, SD 2.x and SDXL checkpoints (and the demo models); "
                           f"{info.name} is {what}, which cannot be trained here yet. Choose another checkpoint.")
    _pictures(request)
    request = replace(request, checkpoint=info.name)
    return replace(request, run_id=request.run_id or _fingerprint(request))


# ------------------------------------------------------------------------------------------ running
def native_resolution(info: Any, pipe: Any) -> int:
    defaults = info.path / "webui-defaults.json" if info.path.is_dir() else None
    if defaults is not None and defaults.is_file():
        try:
            return int(json.loads(defaults.read_text(encoding="utf-8"))["width"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    return int(pipe.unet.config.sample_size) * factor


def _settings(request: LoraTrainRequest, resolution: int, captions: list[str]) -> TrainSettings:
    return TrainSettings(
        steps=request.steps, rank=request.rank, alpha=request.alpha or float(request.rank),
        learning_rate=request.learning_rate, batch_size=request.batch_size, resolution=resolution,
        buckets=request.buckets, ema_decay=request.ema_decay, min_snr_gamma=request.min_snr_gamma,
        caption_dropout=request.caption_dropout, sample_every=request.sample_every,
        sample_prompts=(request.sample_prompt.strip() or captions[0],),
        checkpoint_every=max(10, min(200, request.sample_every or 50)), seed=request.seed,
        max_seconds=request.max_seconds, preserve=request.preserve if request.trigger.strip() else 0.0,
        text_encoder_lr=request.text_encoder_lr)


def _reporter(control: JobControl) -> Callable[[Progress], None]:
    """Each step's report to the queue; the newest samples stay in every report, the preview only when new."""
    newest: list[Image.Image] = []

    def report(progress: Progress) -> None:
        if progress.samples:
            newest[:] = progress.samples
        if control.on_step is not None:
            control.on_step(TrainStepInfo(step=progress.step, steps=progress.steps, batch_index=0, batch_count=1,
                                          preview=progress.samples[0] if progress.samples else None,
                                          loss=progress.loss, losses=progress.losses, samples=list(newest)))
    return report


def run(request: LoraTrainRequest, models: ModelManager, control: JobControl | None, state_root: Path
        ) -> LoraTrainResult:
    """Train, write the LoRA and its card picture, rescan. Interrupt keeps the state and writes nothing."""
    request = check(request, models)  # again: the name may have been taken while the job waited
    control = control or JobControl()
    target = _target(models, request.name)
    captions = [caption_of(p, request.caption, request.trigger) for p in request.init_images]
    examples = [Example(p.image, c, _without(c, request.trigger) if request.preserve and request.trigger.strip()
                        else None) for p, c in zip(request.init_images, captions)]
    state_path = state_root / request.run_id / "state.pt"
    try:
        resume = kohya.load_state(state_path)
    except Exception as exc:  # a damaged state: start again rather than fail the job
        log.warning("training %s: the saved state %s cannot be read (%s); starting from step 0",
                    request.name, state_path, exc)
        resume = None
    if resume:
        log.info("training %s resumes at step %s", request.name, resume.get("step"))
    with models.use(request.checkpoint) as loaded:
        info, pipe = loaded.info, loaded.pipe
        resolution = request.resolution or native_resolution(info, pipe)
        settings = _settings(request, resolution, captions)
        hooks = Hooks(interrupted=control.interrupt.is_set, on_progress=_reporter(control),
                      on_checkpoint=lambda state: kohya.save_state(state, state_path), resume=resume)
        try:
            outcome = train_lora(pipe, examples, settings, hooks)
        except ValueError as exc:
            raise RequestError(f"Training could not continue: {exc}") from None
    if outcome.interrupted:
        return LoraTrainResult(request=request, steps_done=outcome.steps_done, losses=outcome.losses,
                               interrupted=True)
    base = models.checkpoints.ensure_hash(info)
    tensors = kohya.to_kohya(outcome.layers, settings.alpha, info.family or "sd1", outcome.layers_per_block,
                             text_layers=outcome.text_layers)
    meta = kohya.metadata(name=target.stem, family=info.family or "sd1", rank=request.rank, alpha=settings.alpha,
                          trigger=request.trigger.strip(), captions=captions, base_name=info.name,
                          base_hash=base.sha256, steps=outcome.steps_done, resolution=resolution,
                          settings=_recorded(request, settings))
    try:
        kohya.write_lora(tensors, meta, target)
    except kohya.LoraExists:
        raise RequestError(f"A LoRA named {target.name} appeared while training; nothing was overwritten. The "
                           f"training state is kept: submit again under another name to save it.") from None
    warnings = []
    if outcome.stopped_by_time:
        warnings.append(f"Stopped at step {outcome.steps_done} of {request.steps}: the server's time limit for "
                        "training was reached. The LoRA was saved as it was then.")
    if outcome.samples:
        _save_preview(outcome.samples[0], target, settings, request)
    shutil.rmtree(state_path.parent, ignore_errors=True)
    models.refresh()
    log.info("trained LoRA %s on %s: %d pictures, %d steps", target.stem, info.name, len(examples),
             outcome.steps_done)
    infotexts = [f"{settings.sample_prompts[0]} <lora:{target.stem}:1>"] * len(outcome.samples)
    return LoraTrainResult(request=request, lora=target.stem, path=str(target), steps_done=outcome.steps_done,
                           losses=outcome.losses, warnings=warnings, images=list(outcome.samples),
                           infotexts=infotexts)


def _recorded(request: LoraTrainRequest, settings: TrainSettings) -> dict[str, Any]:
    return {"steps": request.steps, "rank": request.rank, "alpha": settings.alpha,
            "learning_rate": request.learning_rate, "batch_size": request.batch_size,
            "resolution": settings.resolution, "buckets": request.buckets, "ema_decay": request.ema_decay,
            "min_snr_gamma": request.min_snr_gamma, "caption_dropout": request.caption_dropout, "seed": request.seed,
            "text_encoder_lr": request.text_encoder_lr, "preserve": settings.preserve}


def _save_preview(image: Image.Image, target: Path, settings: TrainSettings, request: LoraTrainRequest) -> None:
    """The card picture, A1111's `<name>.png` beside the LoRA, never over an existing file."""
    from PIL.PngImagePlugin import PngInfo

    preview = target.with_suffix(".png")
    info = PngInfo()
    info.add_text("parameters", f"{settings.sample_prompts[0]} <lora:{target.stem}:1>\nSteps: {settings.sample_steps}, "
                                f"Sampler: Euler a, CFG scale: {settings.sample_cfg}, Seed: {settings.seed}, "
                                f"Size: {image.width}x{image.height}, Model: {request.checkpoint}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    try:
        with preview.open("xb") as file:
            file.write(buffer.getvalue())
    except FileExistsError:
        log.warning("not replacing the existing card picture %s", preview)


def _trainable(family: str | None) -> bool:
    # `custom-<width>`: SD-architecture checkpoints with another text width (small community and test models).
    return family in TRAINABLE_FAMILIES or (family or "").startswith("custom-")
