"""Out of memory on a batch, simulated in the UNet of the tiny models: one retry with half the batch makes the
same pictures with the same seeds; a second failure fails that job alone and the next job runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from modules.core.requests import GenerationRequest
from modules.service.jobs import DONE, FAILED, JobQueue
from modules.service.outputs import OutputStore
from modules.service.runner import Processor

BASE = GenerationRequest(prompt="a red circle", width=16, height=16, steps=2, seed=42, cfg_scale=5.0,
                         sampler="Euler", checkpoint="tiny-a")
WAIT = 120.0


@pytest.fixture
def processor(manager, samplers, tmp_path):
    return Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"))


def fail_above(monkeypatch, pictures: int) -> list[int]:
    """Make the UNet raise CUDA's out-of-memory error on a batch of more than `pictures` pictures; returns the
    batch sizes it saw (classifier-free guidance doubles the UNet's batch)."""
    seen: list[int] = []
    forward = UNet2DConditionModel.forward

    def limited(self, sample, *args, **kwargs):
        n = sample.shape[0] // 2
        seen.append(n)
        if n > pictures:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n} GiB (simulated)")
        return forward(self, sample, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", limited)
    return seen


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(int)


def test_retry_with_half_the_batch_makes_the_same_pictures(processor, monkeypatch):
    request = replace(BASE, batch_size=4, batch_count=1)
    normal = processor.run(request)
    seen = fail_above(monkeypatch, 2)
    retried = processor.run(request)
    assert 4 in seen and max(seen[seen.index(4) + 1:]) == 2  # failed at 4, then ran batches of 2
    assert retried.seeds == normal.seeds == [42, 43, 44, 45]
    assert len(retried.images) == 4
    for a, b in zip(retried.images, normal.images):
        assert np.abs(pixels(a) - pixels(b)).max() <= 1  # batching changes float rounding only
    assert retried.infotexts == normal.infotexts
    assert any("retried with batch size 2" in w for w in retried.warnings)
    assert retried.request.batch_size == 4
    assert len(retried.paths) == 4


def test_random_seed_is_kept_across_the_retry(processor, monkeypatch):
    fail_above(monkeypatch, 1)
    result = processor.run(replace(BASE, seed=-1, batch_size=2))
    first = result.seeds[0]
    assert result.seeds == [first, first + 1]
    monkeypatch.undo()
    again = processor.run(replace(BASE, seed=first, batch_size=2))
    for a, b in zip(result.images, again.images):
        assert np.abs(pixels(a) - pixels(b)).max() <= 1


def test_a_second_failure_fails_the_job_alone_and_the_next_job_runs(processor, monkeypatch):
    expected = processor.run(BASE)
    seen = fail_above(monkeypatch, 0)  # not even one picture fits
    queue = JobQueue(lambda request, control, owner: processor.run(request, control, owner))
    queue.start()
    try:
        failing = queue.submit(replace(BASE, batch_size=2), "alice")
        assert queue.wait(failing, WAIT)
        assert failing.status == FAILED
        assert failing.error.startswith("Out of memory with batch size 2 (OutOfMemoryError: CUDA out of memory.")
        assert "again with batch size 1" in failing.error and "Try a smaller size than 16x16" in failing.error
        assert sorted(set(seen)) == [1, 2]
        monkeypatch.undo()
        after = queue.submit(BASE, "bob")
        assert queue.wait(after, WAIT)
        assert after.status == DONE
        assert np.abs(pixels(after.result.images[0]) - pixels(expected.images[0])).max() == 0
    finally:
        queue.stop()
