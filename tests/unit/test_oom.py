"""Out-of-memory detection and the retry with half the batch, with a fake generation (no models)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.core.results import GenerationResult, OutOfMemory
from modules.engine.oom import halved_batch, is_out_of_memory, run_with_retry

REQUEST = GenerationRequest(prompt="x", width=64, height=48, seed=7, subseed=3, batch_size=4, batch_count=2)


@pytest.mark.parametrize("exc", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to "
                 "allocate 4294967296 bytes"),
    RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)"),
])
def test_out_of_memory_errors_are_recognised(exc):
    assert is_out_of_memory(exc)


@pytest.mark.parametrize("exc", [
    RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
    ValueError("out of memory"),  # a user error that merely mentions it
    OutOfMemory("Out of memory with batch size 2, and again with batch size 1"),  # already retried
])
def test_other_errors_are_not(exc):
    assert not is_out_of_memory(exc)


@pytest.mark.parametrize("size, count, expected", [
    (2, 1, (1, 2)), (4, 3, (2, 6)), (8, 1, (4, 2)), (6, 1, (3, 2)), (5, 2, (1, 10)), (3, 1, (1, 3)), (1, 4, None),
])
def test_halved_batch_keeps_the_number_of_pictures(size, count, expected):
    assert halved_batch(size, count) == expected
    if expected:
        assert expected[0] * expected[1] == size * count and expected[0] <= size // 2


class FakeGenerate:
    """Fails with `error` while a batch holds more than `fits` pictures; records each attempt's request."""

    def __init__(self, fits: int, error: BaseException | None = None) -> None:
        self.fits, self.error, self.calls = fits, error, []

    def __call__(self, request: GenerationRequest) -> GenerationResult:
        self.calls.append(request)
        if request.batch_size > self.fits:
            raise self.error or torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB")
        seeds = request.seeds()
        return GenerationResult(request=request, images=[f"img{s}" for s in seeds], seeds=seeds,
                                subseeds=request.subseeds(), infotexts=[f"Seed: {s}" for s in seeds])


def test_retry_with_half_the_batch_gives_the_same_seeds_and_a_warning():
    fake = FakeGenerate(fits=2)
    result = run_with_retry(REQUEST, fake)
    assert [(r.batch_size, r.batch_count) for r in fake.calls] == [(4, 2), (2, 4)]
    assert result.seeds == REQUEST.seeds() == list(range(7, 15))
    assert result.subseeds == REQUEST.subseeds()
    assert len(result.images) == 8
    assert any("Out of memory with batch size 4: retried with batch size 2" in w for w in result.warnings)
    # What the client asked for is what the result reports (A1111's info has batch_size).
    assert (result.request.batch_size, result.request.batch_count) == (4, 2)


def test_no_retry_when_it_fits():
    fake = FakeGenerate(fits=8)
    result = run_with_retry(REQUEST, fake)
    assert len(fake.calls) == 1 and result.warnings == []


def test_only_one_retry_then_a_clear_message():
    fake = FakeGenerate(fits=1)
    with pytest.raises(OutOfMemory) as failed:
        run_with_retry(REQUEST, fake)
    assert len(fake.calls) == 2  # 4, then 2; never 1
    message = str(failed.value)
    assert "Out of memory with batch size 4" in message and "again with batch size 2" in message
    assert "smaller size than 64x48" in message and "batch size 1" in message


def test_a_single_picture_is_not_retried():
    fake = FakeGenerate(fits=0)
    with pytest.raises(OutOfMemory, match="Out of memory generating a 64x48 picture .*Try a smaller size"):
        run_with_retry(replace(REQUEST, batch_size=1), fake)
    assert len(fake.calls) == 1


def test_other_errors_pass_through_unretried():
    fake = FakeGenerate(fits=0, error=RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="shapes cannot"):
        run_with_retry(REQUEST, fake)
    assert len(fake.calls) == 1


def test_an_error_other_than_memory_on_the_retry_passes_through():
    calls = []

    def attempt(request):
        calls.append(request)
        if len(calls) == 1:
            raise MemoryError()
        raise KeyError("unet")

    with pytest.raises(KeyError):
        run_with_retry(REQUEST, attempt)
    assert len(calls) == 2
