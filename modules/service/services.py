"""Builds the app's services from Settings. Called by webui.py (and tests); nothing runs at import."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from modules.core.requests import GenerationRequest, Limits
from modules.core.settings import Settings, SettingsStore, UserSettingsStore
from modules.engine import compilation
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.engine.detailer import Detectors
from modules.engine.devices import DeviceConfig, choose_device
from modules.engine.taesd import TinyDecoders
from modules.engine.extras import ExtrasRequest
from modules.engine.faces.restorers import FaceRestorers
from modules.engine.models.manager import ModelManager
from modules.engine.models.upscalers import UpscalerModels
from modules.engine.samplers import SamplerRegistry
from modules.engine.upscaling import DEFAULT_OVERLAP, DEFAULT_TILE, UpscalerRegistry
from modules.service.accounts import Accounts
from modules.service.batching import ProcessorBatcher
from modules.service.extensions import ExtensionHost, load_extensions
from modules.service.history import History
from modules.service.history_similar import SimilarPictures, attach
from modules.service.prompt_suggestions import PromptSuggestions
from modules.service.jobs import Job, JobQueue
from modules.service.lora_trainer import SETTING_DEFAULTS as TRAINING_LIMITS
from modules.service.lora_trainer import LoraTrainRequest, TrainImage
from modules.service.merger import MergeRequest
from modules.service.outputs import OutputStore
from modules.service.queue_store import DEFAULT_TYPES, QueueFolder
from modules.service.runner import Processor
from modules.service.wildcards import WildcardFiles
from modules.service.workers.pool import WorkerPool  # no ray import: only runtime.start_workers loads it

log = logging.getLogger(__name__)

UI_DEFAULTS: dict[str, Any] = {
    "preview_every": 5,
    **TRAINING_LIMITS,  # LoRA training: who may train, most steps, longest run (admins set them in the Train tab)
    "default_negative_prompt": "",
    "ESRGAN_tile": DEFAULT_TILE,  # upscaler tile size in pixels (0 = no tiling), A1111's setting name
    "ESRGAN_tile_overlap": DEFAULT_OVERLAP,
    # Face restoration, A1111's option names and defaults: the restorer restore_faces uses, CodeFormer's weight,
    # and whether to free the model after each job.
    "face_restoration_model": "CodeFormer",
    "code_former_weight": 0.5,
    "face_restoration_unload": False,
    # A1111's "Live preview method": TAESD when the model's tiny decoder is in models/VAE-approx, else the
    # linear approximation ("Approx cheap").
    "show_progress_type": "TAESD",
    "fp8_checkpoints": [],  # checkpoints whose UNet keeps its weights in fp8 (engine/placement.py)
}


@dataclass
class Services:
    settings: Settings
    device: DeviceConfig
    samplers: SamplerRegistry
    models: ModelManager
    outputs: OutputStore
    processor: Processor
    preprocessors: PreprocessorRegistry
    jobs: JobQueue
    ui_settings: SettingsStore
    user_settings: UserSettingsStore  # per-user values, e.g. each user's default checkpoint (API options)
    upscalers: UpscalerRegistry  # models/ESRGAN, RealESRGAN, SwinIR, DAT and the built-in ones
    faces: FaceRestorers | None = None  # models/GFPGAN and models/Codeformer: restore_faces and Extras
    per_user_outputs: bool = False  # True once accounts exist: files go to outputs/<user>/...
    history: History | None = None  # index of saved pictures; repaired at start by webui.py
    accounts: Accounts | None = None  # when logins exist: the History tab asks who is admin
    similar: SimilarPictures | None = None  # search the history by picture (vectors filled in the background)
    suggestions: PromptSuggestions | None = None  # prompt completions from the user's own history
    extensions: ExtensionHost = field(default_factory=ExtensionHost)  # none until start_extensions()
    workers: WorkerPool | None = None  # Ray workers (--workers/--ray-address); None: jobs run in this process

    def submit(self, request: GenerationRequest | ExtrasRequest | MergeRequest | LoraTrainRequest, user: str) -> Job:
        """The one front door for work: validate once (a bad request fails now, not after waiting in the
        queue), fix the seeds (so the infotext, a retry and the UI all see the same ones), and queue it.

        Raises RequestError (or LookupError) with a message for the user, and QueueFull."""
        checked = self.processor.check(request)
        if isinstance(checked, GenerationRequest):
            checked = checked.with_resolved_seeds()
        return self.jobs.submit(checked, user)

    def model_defaults(self) -> dict[str, Any]:
        """Suggested prompt and size of the default checkpoint (the demo model ships them)."""
        info = self.models.default_checkpoint()
        if info is None or info.kind != "diffusers":
            return {}
        path = info.path / "webui-defaults.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return {}


def _compile_option(settings: Settings, device: DeviceConfig, models: ModelManager) -> None:
    """--compile: refused on the CPU (CompileError), skipped elsewhere off CUDA; on CUDA every loaded model's
    denoiser is compiled by engine/compilation.py, and TF32 is switched on. With Ray workers the workers compile
    on their GPUs (engine/worker.py), so a head without a GPU does not refuse it."""
    if settings.workers or settings.ray_address:
        return
    note = compilation.check_flag(settings.compile, device.device.type)
    if note:
        log.info(note)
    if settings.compile and device.device.type == "cuda":
        compilation.enable_tf32()
        models.listeners.append(lambda loaded: compilation.on_model_loaded(loaded, device.device.type))


def build_services(settings: Settings, device: DeviceConfig | None = None, *, per_user_outputs: bool = False,
                   accounts: Accounts | None = None) -> Services:
    device = dataclasses.replace(device or choose_device(settings.device, settings.precision), memory=settings.memory)
    log.info("device: %s, %s (%s)", device.device, str(device.dtype).replace("torch.", ""), device.reason)
    samplers = SamplerRegistry.default()
    models = ModelManager(checkpoints_dir=settings.paths.checkpoints, vae_dir=settings.paths.vaes,
                          cache_file=settings.paths.cache_dir / "models.json", device=device,
                          models_in_ram=settings.models_in_ram, controlnet_dir=settings.paths.controlnets,
                          lora_dir=settings.paths.loras, embeddings_dir=settings.paths.embeddings,
                          ipadapter_dir=settings.paths.ipadapter, clip_vision_dir=settings.paths.clip_vision,
                          text_encoder_dirs=settings.paths.text_encoders, unet_dirs=settings.paths.unets)
    _compile_option(settings, device, models)
    models.refresh()
    history = History(settings.paths.outputs)
    outputs = OutputStore(settings.paths.outputs, index=history)
    similar = attach(history, settings.paths.clip_vision, device)
    suggestions = PromptSuggestions(history, lambda: [i.name for i in models.loras],
                                    lambda: [i.name for i in models.embeddings])
    preprocessors = PreprocessorRegistry.default(settings.paths.annotators)
    ui_settings = SettingsStore(settings.paths.settings_file, UI_DEFAULTS)
    models.fp8_checkpoints = set(ui_settings.get("fp8_checkpoints") or [])
    upscalers = UpscalerRegistry(UpscalerModels(settings.paths.upscalers, device), ui_settings)
    upscalers.refresh()
    faces = FaceRestorers(settings.paths.gfpgan, settings.paths.codeformer, device, ui_settings)
    faces.refresh()
    processor = Processor(models=models, samplers=samplers, outputs=outputs, limits=Limits(max_size=settings.max_size),
                          preprocessors=preprocessors, upscalers=upscalers, faces=faces,
                          wildcards=WildcardFiles(settings.paths.wildcards), vae_tiling=settings.vae_tiling,
                          training_dir=settings.paths.cache_dir / "training",
                          tiny=TinyDecoders(settings.paths.vae_approx, device.device, device.dtype),
                          preview_method=str(ui_settings.get("show_progress_type") or "TAESD"),
                          detectors=Detectors(settings.paths.adetailer, faces.detector))
    user_settings = UserSettingsStore(settings.paths.settings_file.with_name("user-settings.json"))
    # Outputs go under a per-user folder (outputs/<user>/...) only when accounts exist; else one folder.
    # Jobs arrive checked (Services.submit): the worker only executes them. Queued jobs are kept beside the
    # history index (outputs/.history/queue/), so a restart resumes them.
    jobs = JobQueue(lambda request, control, owner: processor.execute(request, control,
                                                                      owner if per_user_outputs else None),
                    preview_every=int(ui_settings.get("preview_every") or 0),
                    store=QueueFolder(history.data_dir / "queue",
                                     types=(*DEFAULT_TYPES, ExtrasRequest, MergeRequest, LoraTrainRequest, TrainImage)),
                    batcher=ProcessorBatcher(processor, settings.batch_jobs, per_user_outputs)
                    if settings.batch_jobs > 1 else None)
    return Services(settings=settings, device=device, samplers=samplers, models=models, outputs=outputs,
                    processor=processor, preprocessors=preprocessors, jobs=jobs, ui_settings=ui_settings,
                    user_settings=user_settings,
                    per_user_outputs=per_user_outputs, history=history, accounts=accounts, upscalers=upscalers,
                    similar=similar, suggestions=suggestions,
                    faces=faces)


def start_extensions(services: Services) -> ExtensionHost:
    """Load extensions/ and connect their hooks. Separate from build_services so tests choose whether to."""
    settings = services.settings
    host = load_extensions(settings.paths.extensions, store=services.ui_settings, samplers=services.samplers,
                           preprocessors=services.preprocessors, disable_all=settings.disable_all_extensions)
    services.extensions = host
    services.processor.extensions = host
    services.models.listeners.append(host.model_loaded)
    return host
