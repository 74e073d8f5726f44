"""Cross-user batching of compatible queued jobs: which jobs may share a batch, the queue taking one job per user in
the fair order, and a shared batch drawing each job's pictures exactly as the job alone would (tiny SD model, CPU)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from modules.core.requests import GenerationRequest
from modules.core.results import GenerationResult, JobControl
from modules.engine.batched import NotBatchable, generate_together
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from modules.service.batching import ProcessorBatcher, batch_key
from modules.service.jobs import DONE, JobQueue
from tests.fixtures.tiny import tiny_manager

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", checkpoint="tiny-a", width=16, height=16,
                         steps=4, seed=42, sampler="Euler", cfg_scale=5.0)


def test_jobs_agreeing_on_what_a_batch_shares_get_one_key_and_the_others_run_alone():
    key = batch_key(BASE)
    assert key is not None
    assert batch_key(replace(BASE, prompt="a green square", negative_prompt="", seed=7, batch_size=2)) == key
    for different in (dict(width=32), dict(steps=5), dict(sampler="DPM++ 2M"), dict(cfg_scale=6.0),
                      dict(checkpoint="tiny-b")):
        assert batch_key(replace(BASE, **different)) not in (None, key)
    for alone in (dict(prompt="a cat <lora:pink:1>"), dict(enable_hr=True), dict(batch_count=2),
                  dict(prompt="a __colour__ circle"), dict(prompt="a {red|blue} circle"), dict(mode="img2img"),
                  dict(extra={"some-script": {}})):
        assert batch_key(replace(BASE, **alone)) is None


@pytest.fixture
def manager(tiny_models_dir, cpu_fp32, tmp_path):
    return tiny_manager(tiny_models_dir, cpu_fp32, tmp_path / "cache.json")


def _same(a: GenerationResult, b: GenerationResult) -> None:
    """Same seeds, infotexts and pictures. Pictures may differ by float rounding alone: a matrix product over a
    batch of 4 can sum in another order than over 1 (seen here: at most 2 levels of 255 on a few pixels, and
    most runs bit-identical); a wrong seed, prompt or noise changes them by tens of levels."""
    assert len(a.images) == len(b.images) and a.seeds == b.seeds and a.infotexts == b.infotexts
    for x, y in zip(a.images, b.images):
        difference = np.abs(np.asarray(x).astype(int) - np.asarray(y).astype(int))
        assert difference.max() <= 2 and difference.mean() < 0.25


def test_a_shared_batch_draws_each_jobs_pictures_exactly_as_the_job_alone(manager):
    requests = [BASE, replace(BASE, prompt="a green square", negative_prompt="", seed=7, batch_size=2),
                replace(BASE, prompt="two blue triangles", seed=1234)]
    together = generate_together(requests, manager, SamplerRegistry.default(), [None] * 3)
    for request, result in zip(requests, together):
        _same(result, generate(request, manager, SamplerRegistry.default()))
        assert result.memory["batched_with"] == 2
    apart = np.abs(np.asarray(together[0].images[0]).astype(int) - np.asarray(together[2].images[0]).astype(int))
    assert apart.mean() > 5  # what a mix-up between jobs would look like: far beyond the rounding allowed above


def test_jobs_that_cannot_share_after_all_run_one_by_one_with_the_same_pictures(manager):
    requests = [replace(BASE, prompt="a [red:blue:0.5] circle"), replace(BASE, seed=9)]  # prompt editing
    with pytest.raises(NotBatchable, match="prompt editing"):
        generate_together(requests, manager, SamplerRegistry.default(), [None, None])
    ran = []

    def alone(request, control):
        ran.append(request.seed)
        return generate(request, manager, SamplerRegistry.default(), control)

    results = generate_together(requests, manager, SamplerRegistry.default(), [None, None], alone=alone)
    assert ran == [42, 9]
    _same(results[1], generate(requests[1], manager, SamplerRegistry.default()))


def test_a_job_interrupted_inside_a_batch_gets_no_pictures_and_the_others_finish(manager):
    stop = JobControl()
    stop.interrupt.set()
    results = generate_together([BASE, replace(BASE, seed=5)], manager, SamplerRegistry.default(), [stop, None])
    assert results[0].interrupted and results[0].images == []
    _same(results[1], generate(replace(BASE, seed=5), manager, SamplerRegistry.default()))


@dataclass
class _RecordingBatcher:
    max_jobs: int = 3
    groups: list[list[str]] = field(default_factory=list)

    def key(self, request):
        return None if "alone" in request.prompt else request.width

    def run(self, requests, controls, owners):
        self.groups.append([r.prompt for r in requests])
        return [GenerationResult(request=r, images=[object()], seeds=[r.seed], subseeds=[0], infotexts=[""])
                for r in requests]


def test_the_queue_batches_one_job_per_user_in_the_fair_order_and_keeps_each_users_order():
    batcher = _RecordingBatcher()
    alone_runs: list[str] = []
    lock = threading.Lock()

    def runner(request, control, owner):
        with lock:
            alone_runs.append(request.prompt)
        return GenerationResult(request=request, images=[object()], seeds=[request.seed], subseeds=[0], infotexts=[""])

    queue = JobQueue(runner, batcher=batcher)
    jobs = [queue.submit(replace(BASE, prompt=p, width=w), owner) for p, w, owner in [
        ("alice 1", 16, "alice"), ("alice 2", 16, "alice"), ("bob 1", 16, "bob"), ("carol 1", 32, "carol"),
        ("dave alone", 16, "dave"), ("erin 1", 16, "erin"), ("frank 1", 16, "frank")]]
    queue.start()
    try:
        assert all(queue.wait(job, timeout=30) for job in jobs)
    finally:
        queue.stop()
    assert [(job.status, job.error) for job in jobs] == [(DONE, None)] * len(jobs)
    # alice's first job leads; bob and erin (next in the fair order with a matching head job) join, up to 3. Then
    # the users not yet served go first: carol's job (another size) and dave's run alone, frank's leads a batch
    # that alice's second job joins: her own jobs never share a batch nor change order.
    assert batcher.groups == [["alice 1", "bob 1", "erin 1"], ["frank 1", "alice 2"]]
    assert alone_runs == ["carol 1", "dave alone"]
    flat = [p for group in batcher.groups for p in group] + alone_runs
    assert sorted(flat) == sorted(job.request.prompt for job in jobs)


def test_the_processor_batcher_saves_each_users_pictures_as_their_own(tiny_models_dir, tmp_path, cpu_fp32):
    from tests.api.conftest import make_services

    services = make_services(tiny_models_dir, tmp_path, cpu_fp32, per_user_outputs=True)
    batcher = ProcessorBatcher(services.processor, max_jobs=2)
    results = batcher.run([BASE, replace(BASE, seed=8)], [JobControl(), JobControl()], ["alice", "bob"])
    assert len(results[0].paths) == 1 and len(results[1].paths) == 1
    assert "alice" in results[0].paths[0] and "bob" in results[1].paths[0]


def test_batching_is_off_by_default_and_on_with_the_batch_jobs_flag(tiny_models_dir, tmp_path, cpu_fp32):
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services

    def queue_batcher(*flags):
        settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "out"),
                                       "--settings-file", str(tmp_path / "settings.json"), *flags])
        return build_services(settings, cpu_fp32).jobs._batcher

    assert queue_batcher() is None
    batcher = queue_batcher("--batch-jobs", "4")
    assert isinstance(batcher, ProcessorBatcher) and batcher.max_jobs == 4
