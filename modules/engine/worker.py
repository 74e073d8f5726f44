"""What one generation worker runs: a checked GenerationRequest in, a GenerationResult out, on its own device.

Pure engine (no queue, no outputs, no history, no ray): validation, extension hooks and saving stay on the
head. service/workers/pool.py wraps the class with `ray.remote`, so this module never imports ray. It runs as a threaded actor: `poll`, `interrupt` and `skip` are answered while
`run` draws, and they act on that job's own JobControl (no global state).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from modules.core.results import GenerationResult, JobControl, StepInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Where a worker finds models and how it runs (pickled to the actor). Paths are the head's: a machine
    that mounts the shared models folder at the same path sees the same files."""

    name: str
    checkpoints_dir: Path
    vae_dir: Path
    cache_file: Path
    lora_dir: Path | None = None
    embeddings_dir: Path | None = None
    controlnet_dir: Path | None = None
    annotators_dir: Path | None = None
    upscalers_dir: Path | None = None
    gfpgan_dir: Path | None = None
    codeformer_dir: Path | None = None
    vae_approx_dir: Path | None = None  # TAESD tiny decoders for live previews (models/VAE-approx)
    adetailer_dir: Path | None = None  # detection models of detect-and-redraw (models/adetailer)
    ipadapter_dir: Path | None = None  # IP-Adapter files (models/ipadapter)
    clip_vision_dir: Path | None = None  # their CLIP vision encoders (models/clip_vision)
    text_encoder_dirs: tuple[Path, ...] = ()  # separate text encoders of Flux files (models/text_encoder...)
    unet_dirs: tuple[Path, ...] = ()  # transformer files of a ComfyUI models/ (diffusion_models/, unet/)
    device: str = "auto"  # as --device: a CUDA worker sees only the GPU Ray gave it
    precision: str = "auto"
    models_in_ram: int = 2
    threads: int = 0  # torch threads on the CPU (0: torch's default)
    compile: bool = False  # --compile: the denoisers of a CUDA worker are compiled (engine/compilation.py)


@dataclass
class WorkerStatus:
    """What the head shows about a worker (GET /api/v1/workers, the admin panel) and routes by."""

    name: str
    host: str
    pid: int
    device: str
    dtype: str
    memory_used: int  # bytes: the GPU's allocated memory, or the process's resident memory on the CPU
    memory_total: int  # bytes: the GPU's, or the machine's RAM
    loaded: list[str] = field(default_factory=list)  # checkpoint names in its RAM cache, most recent last
    checkpoints: list[str] = field(default_factory=list)  # usable checkpoint names it can see
    loras: list[str] = field(default_factory=list)  # LoRA names it can see


@dataclass
class Progress:
    """What happened in a job since the last poll: the newest step, and the pictures finished meanwhile (so the
    head saves each as it is made, as in-process jobs do)."""

    step: StepInfo | None = None
    images: list[tuple[int, Image.Image, int, str]] = field(default_factory=list)
    running: bool = False


class _Options:
    """The head's UI settings as of the job (tile sizes, face restoration options), read like a SettingsStore."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)


@dataclass
class _Running:
    control: JobControl
    progress: Progress = field(default_factory=Progress)
    lock: threading.Lock = field(default_factory=threading.Lock)


class GenerationWorker:
    """One device, one model cache, one job at a time (the head never sends two); polls run beside it."""

    def __init__(self, config: WorkerConfig) -> None:
        import torch

        from modules.engine.controlnet.preprocessors import PreprocessorRegistry
        from modules.engine.detailer import Detectors
        from modules.engine.devices import choose_device
        from modules.engine.faces.restorers import FaceRestorers
        from modules.engine.models.manager import ModelManager
        from modules.engine.models.upscalers import UpscalerModels
        from modules.engine.samplers import SamplerRegistry
        from modules.engine.taesd import TinyDecoders
        from modules.engine.upscaling import UpscalerRegistry

        if config.threads > 0:  # a CPU worker shares the machine with others: one thread each, not all cores each
            torch.set_num_threads(config.threads)
        self.config = config
        self.device = choose_device(config.device, config.precision)
        self.options = _Options()
        self.models = ModelManager(checkpoints_dir=config.checkpoints_dir, vae_dir=config.vae_dir,
                                   cache_file=config.cache_file, device=self.device,
                                   models_in_ram=config.models_in_ram, controlnet_dir=config.controlnet_dir,
                                   lora_dir=config.lora_dir, embeddings_dir=config.embeddings_dir,
                                   ipadapter_dir=config.ipadapter_dir, clip_vision_dir=config.clip_vision_dir,
                                   text_encoder_dirs=config.text_encoder_dirs, unet_dirs=config.unet_dirs)
        if config.compile:  # a GPU worker compiles; a CPU one says why not (the head may have no GPU itself)
            from modules.engine import compilation

            if self.device.device.type == "cuda":
                compilation.enable_tf32()
            self.models.listeners.append(lambda loaded: compilation.on_model_loaded(loaded, self.device.device.type))
        self.models.refresh()
        self.samplers = SamplerRegistry.default()
        self.preprocessors = PreprocessorRegistry.default(config.annotators_dir)
        self.upscalers = UpscalerRegistry(UpscalerModels(config.upscalers_dir, self.device), self.options)
        self.upscalers.refresh()
        self.faces = FaceRestorers(config.gfpgan_dir, config.codeformer_dir, self.device, self.options)
        self.faces.refresh()
        self.tiny = TinyDecoders(config.vae_approx_dir, self.device.device, self.device.dtype)
        self.detectors = Detectors(config.adetailer_dir, self.faces.detector)
        self._jobs: dict[str, _Running] = {}
        self._lock = threading.Lock()
        log.info("worker %s ready on %s (%s)", config.name, self.device.device, self.device.reason)

    # ------------------------------------------------------------------ the head's calls
    def status(self) -> WorkerStatus:
        return WorkerStatus(name=self.config.name, host=socket.gethostname(), pid=os.getpid(),
                            device=str(self.device.device), dtype=str(self.device.dtype).replace("torch.", ""),
                            memory_used=_memory_used(self.device.device), memory_total=_memory_total(self.device.device),
                            loaded=[_checkpoint_name(key, self.models) for key in self.models.loaded_names()],
                            checkpoints=[info.name for info in self.models.checkpoints.usable()],
                            loras=[info.name for info in self.models.loras])

    def refresh(self) -> WorkerStatus:
        """Scan the model folders again (a file copied to this machine since it started)."""
        self.models.refresh()
        self.upscalers.refresh()
        self.faces.refresh()
        return self.status()

    def run(self, key: str, request: Any, preview_every: int, options: dict[str, Any]) -> GenerationResult:
        """Draw one checked request (seeds resolved on the head, so a retry elsewhere draws the same pictures)."""
        from modules.engine import oom
        from modules.engine.generation import generate

        self.options.values = dict(options)
        running = _Running(JobControl(preview_every=preview_every))
        running.control.on_step = lambda info: self._on_step(running, info)
        running.control.on_image = lambda *made: self._on_image(running, made)
        with self._lock:
            self._jobs[key] = running
        try:
            result = oom.run_with_retry(request, lambda attempt: generate(
                attempt, self.models, self.samplers, running.control, self.preprocessors, self.upscalers,
                self.faces, vae_tiling=str(options.get("vae_tiling", "auto")), tiny=self.tiny,
                preview_method=str(options.get("preview_method", "TAESD")), detectors=self.detectors))
            if self.faces is not None and getattr(request, "restore_faces", False):
                self.faces.after_job()
            return result
        finally:
            with self._lock:
                self._jobs.pop(key, None)

    def poll(self, key: str, interrupt: bool = False, skip: bool = False) -> Progress:
        """The job's newest step and new pictures since the last poll (the head calls this a few times a second).
        `interrupt`/`skip`: the head's flags, passed on each poll until the job has them (a job that has not
        started when Interrupt is pressed gets it at its first poll)."""
        with self._lock:
            running = self._jobs.get(key)
        if running is None:
            return Progress()
        if interrupt:
            running.control.interrupt.set()
        if skip:
            running.control.skip.set()
        with running.lock:
            progress, running.progress = running.progress, Progress()
        progress.running = True
        return progress

    # ------------------------------------------------------------------ inside
    @staticmethod
    def _on_step(running: _Running, info: StepInfo) -> None:
        with running.lock:
            # A step without a preview must not drop a preview the head has not fetched yet.
            if info.preview is None and running.progress.step is not None:
                info = dataclasses.replace(info, preview=running.progress.step.preview)
            running.progress.step = info

    @staticmethod
    def _on_image(running: _Running, made: tuple[int, Image.Image, int, str]) -> None:
        with running.lock:
            running.progress.images.append(made)


def _checkpoint_name(key: str, models: Any) -> str:
    """The cache keys are paths: give the checkpoint's name, as routing and the admin panel use."""
    for info in models.checkpoints.usable():
        if str(info.path) == key:
            return info.name
    return Path(key).name


def _memory_used(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def _memory_total(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, AttributeError, OSError):
        return 0
