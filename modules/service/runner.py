"""Runs one request end to end: validate, generate, save. What the job worker calls for every job.

Kept apart from `generation` so the core stays a pure request -> images function, and apart from `jobs` so
the queue knows nothing about models or files.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.core.prompts import extract_loras
from modules.core.requests import CONTROL_MODES, ControlUnit, GenerationRequest, Limits, RequestError
from modules.core.validation import validate
from modules.core.results import GenerationResult, JobControl
from modules.engine import detailer, hires, oom, refiner
from modules.engine.controlnet.preprocessors import PreprocessorError, PreprocessorRegistry, is_reference_module
from modules.engine.models.ipadapters import IPAdapterError
from modules.engine.extras import ExtrasRequest, ExtrasResult, run_extras, validate_extras
from modules.engine.faces.restorers import FaceRestorers
from modules.engine.faces.restorers import check_request as check_faces
from modules.engine.generation import generate
from modules.engine import regions as regional
from modules.engine.models.controlnets import ControlNetError
from modules.engine import flow_control, flow_generation
from modules.engine.models.families import is_flow
from modules.engine.models.loras import LoraError
from modules.engine.models.manager import ModelManager
from modules.engine.models.registry import CheckpointInfo
from modules.engine.models.single_file import CheckpointError
from modules.engine.samplers import SamplerRegistry
from modules.engine.taesd import TinyDecoders, missing_message
from modules.engine.upscaling import UpscalerRegistry
from modules.extension_api import ScriptContext
from modules.service import lora_trainer, merger
from modules.service.extensions import ExtensionHost, run_script
from modules.service.outputs import OutputStore
from modules.service import wildcards

log = logging.getLogger(__name__)

OUTPUT_KINDS = {"txt2img": "txt2img-images", "img2img": "img2img-images", "inpaint": "img2img-images",
                "extras": "extras-images"}
GRID_KINDS = {"txt2img": "txt2img-grids", "img2img": "img2img-grids", "inpaint": "img2img-grids"}


@dataclass
class Processor:
    models: ModelManager
    samplers: SamplerRegistry
    outputs: OutputStore
    limits: Limits = Limits()
    save_images: bool = True
    # The app's registries (extensions add preprocessors; models/ESRGAN... add upscalers); built-in ones here.
    preprocessors: PreprocessorRegistry = field(default_factory=PreprocessorRegistry.default)
    extensions: ExtensionHost | None = None  # hooks and scripts; None = no extensions
    upscalers: UpscalerRegistry = field(default_factory=UpscalerRegistry)
    faces: FaceRestorers | None = None  # models/GFPGAN, models/Codeformer; None: restore_faces is refused
    wildcards: wildcards.WildcardFiles = field(default_factory=lambda: wildcards.WildcardFiles(None))
    vae_tiling: str = "auto"  # --vae-tiling: when the VAE decodes in tiles (engine/vae_decode.py)
    training_dir: Path | None = None  # LoRA training's resumable states (outside outputs); None: a temp folder
    # Draws instead of engine.generation.generate, with its arguments: the Ray workers (service/workers/pool.py)
    # with --workers/--ray-address. None: this process draws. Hooks and saving stay here either way.
    engine: Callable[..., GenerationResult] | None = None
    tiny: TinyDecoders | None = None  # models/VAE-approx: TAESD previews and Decode method TAESD
    preview_method: str = "TAESD"  # the admin's "Live preview method" (Settings tab); else the linear map
    # ADetailer's detection models: the built-in face detector and models/adetailer
    detectors: detailer.Detectors = field(default_factory=lambda: detailer.Detectors(None))

    def check(self, request: GenerationRequest) -> GenerationRequest:
        """Validate early (at submit time), so a bad request is refused before it waits in the queue."""
        if isinstance(request, ExtrasRequest):
            return validate_extras(request, self.upscalers, self.limits, self.faces)
        if isinstance(request, merger.MergeRequest):
            return merger.check(request, self.models)
        if isinstance(request, lora_trainer.LoraTrainRequest):
            return lora_trainer.check(request, self.models)
        request = validate(request, self.limits, self.samplers)
        checkpoint = self.models.resolve(request.checkpoint)
        if is_flow(checkpoint.family):  # Flux, SD 3.x: what they cannot take yet is refused before queueing
            flow_generation.check(request, checkpoint.family, checkpoint.family_label, checkpoint.name)
        if request.additional_modules or checkpoint.flux_file:  # the named files exist and fit, or which is missing
            try:
                self.models.with_parts(checkpoint, request.additional_modules, request.vae)
            except (LookupError, ValueError, CheckpointError) as exc:
                raise RequestError(str(exc)) from None
        self._check_units(request, checkpoint)
        self._check_loras(request, checkpoint)
        hires.check(request, self.samplers, self.upscalers, self.models)
        refiner.check(request, checkpoint, self.models)
        regional.check(request, checkpoint, self.models)
        if request.vae_decode_method == "TAESD" and not (self.tiny and self.tiny.available(checkpoint.family)):
            raise RequestError(missing_message(checkpoint.family, checkpoint.family_label,
                                               self.tiny.folder if self.tiny else None))
        request = check_faces(request, self.faces)
        request = detailer.check(request, self.detectors, self.samplers)
        wildcards.check(request, self.wildcards)
        script = self.extensions.script_for(request) if self.extensions else None
        if script is not None and script.check is not None:
            try:
                script.check(request, self._script_context(request, None, None))
            except RequestError:
                raise
            except ValueError as exc:  # a script's "bad value" is the caller's to fix: a 422, not a 500
                raise RequestError(str(exc)) from exc
        return request

    def _check_loras(self, request: GenerationRequest, checkpoint: CheckpointInfo) -> None:
        """Another family's LoRA is refused before the job waits in the queue (an unknown name only warns)."""

        for tag in extract_loras(request.prompt)[1]:
            info = self.models.find_lora(tag.name)
            if info is not None:
                try:
                    self.models.check_lora_family(info, checkpoint)
                except LoraError as exc:
                    raise RequestError(str(exc)) from None

    def _check_units(self, request: GenerationRequest, checkpoint: CheckpointInfo) -> None:

        for n, unit in enumerate(request.control_units, start=1):
            if is_reference_module(unit.module):  # an IP-Adapter unit: adapter, encoder and module checked
                self._check_reference(n, unit, checkpoint, request)
                continue
            picture_only = flow_control.takes_control_picture(checkpoint.family)  # Flux Canny/Depth: no model
            if not picture_only and unit.model.strip().casefold() == "none":
                raise RequestError(f"ControlNet unit {n} is enabled but has no model (Model is None). Choose a "
                                   "ControlNet model, or disable the unit.")
            try:
                if not picture_only:
                    self.models.usable_controlnet(unit.model, checkpoint)
            except LookupError as exc:
                raise RequestError(f"ControlNet unit {n}: {exc.args[0]}") from None
            except ControlNetError as exc:
                raise RequestError(f"ControlNet unit {n}: {exc}") from None
            try:
                self.preprocessors.get(unit.module)
            except PreprocessorError as exc:
                raise RequestError(f"ControlNet unit {n}: {exc}") from None

    def _check_reference(self, n: int, unit: ControlUnit, checkpoint: CheckpointInfo,
                         request: GenerationRequest) -> None:
        if request.regions:  # both replace the UNet's cross-attention; refused here rather than mid-job
            raise RequestError(f"ControlNet unit {n}: an IP-Adapter unit cannot be combined with regional prompting "
                               "yet. Turn the regions off, or disable the unit.")
        if unit.control_mode != 0:
            raise RequestError(f"ControlNet unit {n}: control mode {CONTROL_MODES[unit.control_mode]} is for "
                               "ControlNets; an IP-Adapter acts by its weight. Choose Balanced.")
        try:
            self.models.usable_ip_adapter(unit.model, unit.module, checkpoint)
        except LookupError as exc:
            raise RequestError(f"ControlNet unit {n}: {exc.args[0]}") from None
        except IPAdapterError as exc:
            raise RequestError(f"ControlNet unit {n}: {exc}") from None

    def run(self, request: GenerationRequest, control: JobControl | None = None,
            user: str | None = None) -> GenerationResult:
        """Check, then execute: for callers that hold an unchecked request (scripts, tools, tests)."""
        return self.execute(self.check(request), control, user)

    def execute(self, request: GenerationRequest, control: JobControl | None = None,
                user: str | None = None) -> GenerationResult:
        """Run a request that `check` already accepted (Services.submit checks before queueing)."""
        if isinstance(request, ExtrasRequest):
            return self._run_extras(request, control, user)
        if isinstance(request, merger.MergeRequest):
            return merger.run(request, self.models, control)
        if isinstance(request, lora_trainer.LoraTrainRequest):
            return lora_trainer.run(request, self.models, control, self.training_dir)
        script = self.extensions.script_for(request) if self.extensions else None
        if script is not None:
            return run_script(self.extensions, script, request, self._script_context(request, control, user))
        return self._run_one(request, control, user)

    def _run_one(self, request: GenerationRequest, control: JobControl | None, user: str | None,
                 save: bool = True, drawn: bool = False) -> GenerationResult:
        """One generation with the extensions' hooks; its pictures saved as they are made unless `save` is off
        (a script's parts, e.g. SD upscale's tiles, which are neither outputs nor History entries)."""
        if not drawn:  # prompts with {a|b} or __wildcards__: each picture its own prompt, from its own seed
            request = request.with_resolved_seeds()
            parts = wildcards.split(request, self.wildcards)
            if parts is not None:
                return self._run_parts(request, parts, control, user, save)
        save = save and self.save_images
        if self.extensions is not None:
            # A hook may return any request: it is checked again, so a bad one fails with a clear message.
            changed = self.extensions.before_generate(request)
            if changed is not request:
                request = validate(changed, self.limits, self.samplers)
            on_step = self.extensions.wrap_on_step(control.on_step if control else None)
            if on_step is not None:
                control = dataclasses.replace(control or JobControl(), on_step=on_step)
        kind = OUTPUT_KINDS[request.mode]
        early = _EarlySaves(self, kind, user)
        if save:
            control = dataclasses.replace(control or JobControl(), on_image=early.on_image)
        # Seeds are fixed before the first attempt so an out-of-memory retry reproduces the same pictures.
        result = oom.run_with_retry(request.with_resolved_seeds(), lambda attempt: (self.engine or generate)(
            attempt, self.models, self.samplers, control, self.preprocessors, self.upscalers, self.faces,
            tiny=self.tiny, preview_method=self.preview_method, vae_tiling=self.vae_tiling, detectors=self.detectors))
        if self.faces is not None and request.restore_faces:
            self.faces.after_job()
        if self.extensions is not None:
            self.extensions.after_generate(result)
        if save:
            for index, (image, seed, info) in enumerate(zip(result.images, result.seeds, result.infotexts)):
                path = early.finish(index, image, info) if index in early.saved else \
                    self.write_picture(result, image, kind, seed, info, user)
                if path is not None:
                    result.paths.append(path)
                    if self.extensions is not None:
                        self.extensions.image_saved(path, image, info)
            result.warnings.extend(early.errors)
        return result

    def _run_parts(self, request: GenerationRequest, parts: list[GenerationRequest], control: JobControl | None,
                   user: str | None, save: bool) -> GenerationResult:
        """The pictures of a job whose pictures drew different prompts, one generation each, as one result."""
        results = []
        for index, part in enumerate(parts):
            if index and control is not None and control.interrupt.is_set():
                break
            results.append(self._run_one(part, _part_of(control, (index, len(parts))), user, save, drawn=True))
        merged = GenerationResult(request=request, images=[], seeds=[], subseeds=[], infotexts=[],
                                  interrupted=any(r.interrupted for r in results) or len(results) < len(parts))
        for result in results:
            for name in ("images", "seeds", "subseeds", "infotexts", "warnings", "paths", "detected_maps"):
                getattr(merged, name).extend(x for x in getattr(result, name) if name != "warnings"
                                             or x not in merged.warnings)
        return merged

    def write_picture(self, result: GenerationResult | None, image: Any, kind: str, seed: int | None, info: str,
                      user: str | None) -> str | None:
        """Save one picture; a disk error becomes a warning on the result (the picture stays in it)."""
        try:
            return str(self.outputs.save(image, kind, seed, info, user=user))
        except OSError as exc:  # disk full, permissions: the pictures are still in the result
            log.error("could not save image of seed %s: %s", seed, exc)
            if result is not None:
                result.warnings.append(f"Could not save a picture to {self.outputs.root}: {exc}")
            return None

    def _save(self, result: GenerationResult | None, image: Any, kind: str, seed: int, info: str,
              user: str | None) -> str | None:
        path = self.write_picture(result, image, kind, seed, info, user)
        if path is not None and self.extensions is not None:
            self.extensions.image_saved(path, image, info)
        return path

    def _script_context(self, request: GenerationRequest, control: JobControl | None, user: str | None
                        ) -> ScriptContext:
        def save(image: Any, seed: int, infotext: str, kind: str = "grids") -> str | None:
            if not self.save_images:
                return None
            folder = GRID_KINDS[request.mode] if kind == "grids" else OUTPUT_KINDS[request.mode]
            return self._save(None, image, folder, seed, infotext, user)

        return ScriptContext(
            process=lambda sub: self._run_one(validate(sub, self.limits, self.samplers), control, user),
            save=save,
            interrupted=lambda: control is not None and control.interrupt.is_set(),
            sampler_names=self.samplers.names,
            checkpoint_names=lambda: [i.name for i in self.models.checkpoints.usable()],
            generate=lambda sub, part=None: self._run_one(validate(sub, self.limits, self.samplers),
                                                          _part_of(control, part), user, save=False),
            upscaler_names=self.upscalers.names,
            upscale_to=self.upscalers.upscale_to,
        )

    def _run_extras(self, request: ExtrasRequest, control: JobControl | None, user: str | None) -> ExtrasResult:
        result = run_extras(request, self.upscalers, control, self.faces)
        if self.faces is not None:
            self.faces.after_job()
        if self.save_images:
            for image, info, post in zip(result.images, result.infotexts, result.postprocessing):
                try:
                    chunks = {"postprocessing": post} if post else None
                    result.paths.append(str(self.outputs.save(image, OUTPUT_KINDS["extras"], None, info, user=user,
                                                              chunks=chunks)))
                except OSError as exc:
                    log.error("could not save an extras picture: %s", exc)
                    result.warnings.append(f"Could not save a picture to {self.outputs.root}: {exc}")
        return result


def _part_of(control: JobControl | None, part: tuple[int, int] | None) -> JobControl | None:
    """The job's control for part `index` of `count` of a script's work (SD upscale's tile batches): its steps
    reported as batches of the whole, so the progress bar runs once from 0 to 1 instead of once per part."""
    if control is None or part is None or control.on_step is None:
        return control
    index, count = part
    outer = control.on_step

    def on_step(info: Any) -> None:
        outer(dataclasses.replace(info, batch_index=index * info.batch_count + info.batch_index,
                                  batch_count=count * info.batch_count))

    return dataclasses.replace(control, on_step=on_step)


class _EarlySaves:
    """Saves each picture of a job the moment it is made (JobControl.on_image), so a crash late in a long batch
    keeps every picture drawn before it. An out-of-memory retry draws the same pictures again: those already
    saved are not written twice. Once the job is done, a picture whose infotext the extensions' after_generate
    hooks changed gets the final metadata."""

    def __init__(self, runner: Processor, kind: str, user: str | None) -> None:
        self.runner, self.kind, self.user = runner, kind, user
        self.saved: dict[int, tuple[str, str]] = {}  # index in the job -> (path, infotext written)
        self.errors: list[str] = []

    def on_image(self, index: int, image: Any, seed: int, infotext: str) -> None:
        if index in self.saved:
            return
        try:
            path = self.runner.outputs.save(image, self.kind, seed, infotext, user=self.user)
        except OSError as exc:  # tried again at the end of the job; the picture stays in the result meanwhile
            log.error("could not save image of seed %s as it was made: %s", seed, exc)
            return
        self.saved[index] = (str(path), infotext)

    def finish(self, index: int, image: Any, infotext: str) -> str | None:
        path, written = self.saved[index]
        if infotext != written and Path(path).is_file():  # trashed meanwhile from History: never brought back
            try:
                self.runner.outputs.rewrite_infotext(Path(path), image, infotext, self.user, self.kind)
            except OSError as exc:
                self.errors.append(f"Could not add the extensions' fields to {path}: {exc}")
        return path
