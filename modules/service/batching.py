"""Which queued jobs may share one denoising batch, and running such a group (opt-in, meant for CUDA).

`batch_key` is a pure function of a request: jobs with equal keys agree on everything a batch shares (checkpoint,
VAE, size, steps, sampler and schedule, CFG scale, clip skip, eta, fast paths); None marks a job that runs alone
(LoRAs, ControlNet, hires, refiner, regions, detailer, init pictures, wildcards, several batches, an extension's
script). The queue (jobs.py) takes at most one job per user into a group, from the head of each user's queue in
the fair order, so batching never reorders a user's own jobs nor lets one user fill a batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modules.core.prompts import extract_loras
from modules.core.requests import GenerationRequest
from modules.core.results import GenerationResult, JobControl

# Fields that must be equal across a batch: they shape the one sampling loop all pictures share.
# Extension hooks that see a job's request or pictures: with any of them active, jobs run one by one.
HOOKS = ("before_generate", "after_generate", "on_step", "image_saved")
SHARED = ("checkpoint", "vae", "width", "height", "steps", "sampler", "schedule_type", "cfg_scale", "clip_skip",
          "eta_ddim", "deepcache_interval", "step_cache", "vae_decode_method")


def batch_key(request: Any) -> Hashable | None:
    """Equal keys may share a batch; None: this job runs alone."""
    if type(request) is not GenerationRequest or request.mode != "txt2img" or request.batch_count != 1:
        return None
    if (request.control_units or request.enable_hr or request.refiner_checkpoint or request.regions
            or request.detailer or request.init_images or request.restore_faces or request.extra
            or request.infotext_fields):
        return None
    if extract_loras(request.prompt)[1] or "__" in request.prompt or "{" in request.prompt:
        return None  # LoRAs change the weights for the whole batch; wildcards draw one prompt per picture
    return tuple(getattr(request, name) for name in SHARED)


class Batcher(Protocol):
    max_jobs: int

    def key(self, request: Any) -> Hashable | None: ...

    def run(self, requests: Sequence[Any], controls: Sequence[JobControl], owners: Sequence[str]
            ) -> list[GenerationResult]:
        """One result per job, in order (each job's pictures saved as its own)."""
        ...


@dataclass
class ProcessorBatcher:
    """Groups run through the engine's shared batch and are saved per owner; anything the batch cannot honour
    (extensions' hooks, Ray workers) runs job by job through the processor, exactly as without batching."""

    processor: Any  # runner.Processor
    max_jobs: int = 4
    per_user_outputs: bool = True  # outputs/<user>/ (accounts exist); else one folder for all

    def key(self, request: Any) -> Hashable | None:
        return batch_key(request)

    def run(self, requests: Sequence[Any], controls: Sequence[JobControl], owners: Sequence[str]
            ) -> list[GenerationResult]:
        from modules.engine.batched import generate_together

        processor = self.processor
        folders = [o if self.per_user_outputs else None for o in owners]
        alone = [lambda r, c, o=o: processor.execute(r, c, o) for o in folders]
        host = processor.extensions
        hooked = host is not None and any(host.has(kind) for kind in HOOKS)
        if hooked or processor.engine is not None:  # hooks see one job at a time; Ray workers draw elsewhere
            return [run(r, c) for run, r, c in zip(alone, requests, controls)]
        by_request = {id(r): run for run, r in zip(alone, requests)}
        results = generate_together(requests, processor.models, processor.samplers, controls,
                                    alone=lambda r, c: by_request[id(r)](r, c))
        if processor.save_images:
            for result, owner in zip(results, folders):
                if result.paths:  # run alone: the processor saved them
                    continue
                for image, seed, info in zip(result.images, result.seeds, result.infotexts):
                    path = processor.write_picture(result, image, "txt2img-images", seed, info, owner)
                    if path is not None:
                        result.paths.append(path)
        return results
