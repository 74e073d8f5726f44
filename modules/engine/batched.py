"""Several users' compatible txt2img jobs drawn in one denoising batch: one UNet call per step for all of them.

On a GPU a batch of four costs little more than one picture, so a busy shared server draws more pictures per
second. The queue (service/batching.py) groups only jobs that agree on everything the batch shares: checkpoint,
VAE, size, steps, sampler and schedule, CFG scale, clip skip, and no per-job machinery (LoRAs, ControlNet, hires,
refiner, regions, detailer, init pictures). Every picture keeps its own noise (its seed), prompt embeddings and
sampler generators, so it comes out as it would alone; A1111 already promises that a picture reproduces alone from
its infotext seed. What cannot be shared after the prompts are read (prompt editing, prompts of different
lengths, a sampler that draws noise while sampling, whose noise would follow the batch's first seed) sends the
jobs back to run one by one, each with its own result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from modules.core.prompts import extract_loras
from modules.core.requests import GenerationRequest
from modules.core.results import GenerationResult, JobControl, StepInfo
from modules.engine import generation, placement, vae_decode
from modules.engine.conditioning import encode_schedule
from modules.engine.latents import cpu_generators, make_noise, tensor_inputs
from modules.engine.models.source import ModelSource
from modules.engine.samplers import SamplerRegistry


class NotBatchable(Exception):
    """These jobs cannot share a batch after all (said why); they run one by one."""


def generate_together(requests: Sequence[GenerationRequest], models: ModelSource, samplers: SamplerRegistry,
                      controls: Sequence[JobControl | None],
                      alone: Callable[[GenerationRequest, JobControl | None], GenerationResult] | None = None,
                      ) -> list[GenerationResult]:
    """One result per request, in order. `alone(request, control)` runs a job by itself when the batch cannot be
    shared (the queue's usual runner); without it the NotBatchable error is raised."""
    resolved = [r.with_resolved_seeds() for r in requests]
    try:
        return _together(resolved, models, samplers, list(controls))
    except NotBatchable:
        if alone is None:
            raise
        return [alone(request, control) for request, control in zip(requests, controls)]


def _together(requests: list[GenerationRequest], models: ModelSource, samplers: SamplerRegistry,
              controls: list[JobControl | None]) -> list[GenerationResult]:
    first = requests[0]
    shared_notes: list[str] = []
    with models.use(first.checkpoint, first.vae) as loaded, \
            vae_decode.guarded(loaded.pipe.vae, "auto", shared_notes), \
            placement.measured(loaded.pipe._execution_device) as peak:
        runs = [generation._Run(r, loaded, loaded.pipe, c, None) for r, c in zip(requests, controls)]
        for run in runs:
            generation._prepare_scheduler(run, samplers)
        pipe = runs[-1].pipe  # every run made the same scheduler: the last one stays on the pipeline
        if generation._draws_noise(pipe.scheduler, first):
            raise NotBatchable(f"{first.sampler} draws noise while sampling, seeded by one job's seed")
        warnings: list[list[str]] = [[] for _ in requests]
        kwargs: dict[str, list[torch.Tensor]] = {}
        for run, notes in zip(runs, warnings):
            prompt = extract_loras(run.request.prompt)[0]
            generation._use_embeddings(run, models, prompt, notes)
            schedule = encode_schedule(pipe, prompt, run.request.negative_prompt, run.request.steps,
                                       clip_skip=run.request.clip_skip, decimal_is_fraction=True)
            if len(schedule) > 1:
                raise NotBatchable("prompt editing changes one job's embeddings during sampling")
            for key, value in schedule[0].pipe_kwargs(run.request.batch_size).items():
                kwargs.setdefault(key, []).append(value)
        if any(len({tuple(t.shape[1:]) for t in values}) > 1 for values in kwargs.values()):
            raise NotBatchable("prompts of different lengths (over 75 tokens) make embeddings of different sizes")
        factor = pipe.vae_scale_factor
        shape = (pipe.vae.config.latent_channels, first.height // factor, first.width // factor)
        device, dtype = pipe.unet.device, pipe.unet.dtype
        seeds = [r.seeds()[:r.batch_size] for r in requests]
        subseeds = [r.subseeds()[:r.batch_size] for r in requests]
        latents = torch.cat([make_noise(shape, s, ss, r.subseed_strength)
                             for r, s, ss in zip(requests, seeds, subseeds)]).to(device, dtype)
        generators = [g for r, s in zip(requests, seeds) for g in cpu_generators(s, r.eta_noise_seed_delta)]
        images = pipe(**{k: torch.cat(v) for k, v in kwargs.items()}, height=first.height, width=first.width,
                      num_inference_steps=first.steps, guidance_scale=first.cfg_scale, latents=latents,
                      generator=generators, **generation._eta(first),
                      callback_on_step_end=_progress(controls, first.steps),
                      callback_on_step_end_tensor_inputs=tensor_inputs(pipe)).images
    results, start = [], 0
    memory = placement.job_details(loaded.placement, peak[0] if peak else None)
    for run, job_seeds, job_subseeds, notes in zip(runs, seeds, subseeds, warnings):
        request, count = run.request, len(job_seeds)
        interrupted = run.control is not None and run.control.interrupt.is_set()
        mine = [] if interrupted else images[start:start + count]
        start += count
        run.extra.update(generation._fast_path_infotext(request))
        for image, seed, subseed in zip(mine, job_seeds, job_subseeds):
            run.add(image, seed, subseed)
        results.append(GenerationResult(request=request, images=run.images, seeds=job_seeds[:len(mine)],
                                        subseeds=job_subseeds[:len(mine)], infotexts=run.infotexts,
                                        interrupted=interrupted, warnings=notes + shared_notes,
                                        memory={**memory, "batched_with": len(requests) - 1}))
    return results


def _progress(controls: list[JobControl | None], steps: int) -> Callable[..., dict[str, Any]]:
    """Progress for every job of the batch; the batch stops early only when every job was interrupted (a job
    interrupted alone gets no pictures, the others go on)."""
    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if all(c is not None and c.interrupt.is_set() for c in controls):
            pipe._interrupt = True
        for control in (c for c in controls if c is not None):
            if control.on_step is not None:
                control.on_step(StepInfo(step + 1, steps, 0, 1))
        return kwargs

    return callback
