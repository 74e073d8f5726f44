"""Out-of-memory handling for one job: a batch that does not fit is retried once with half the batch.

A1111 gives image i of a job the seed seed + i whatever the batching, and our noise is drawn per image, so
splitting each batch in two (and running twice as many batches) makes the same pictures with the same seeds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import torch

from modules.core.results import OutOfMemory

log = logging.getLogger(__name__)

# Lower-cased fragments of the messages torch and its allocators give when memory runs out: CUDA/MPS/XPU say
# "out of memory", the CPU allocator "can't allocate memory".
_MESSAGES = ("out of memory", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, OutOfMemory):  # already retried (a script's sub-job): retrying again would hide it
        return False
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _MESSAGES)


def release_memory() -> None:
    """Give back what the failed attempt held: its tensors are garbage once its frames are gone."""
    from modules.engine.models.manager import release_memory as collect

    collect()  # gc, the CUDA cache and glibc's arenas
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def halved_batch(batch_size: int, batch_count: int) -> tuple[int, int] | None:
    """(size, count) with at most half the batch and exactly the same number of pictures; None for size 1.

    The new size divides the old one, so no batch is partly filled (5 -> 1 x 5, 6 -> 3 x 2, 8 -> 4 x 2)."""
    if batch_size < 2:
        return None
    size = max(d for d in range(1, batch_size // 2 + 1) if batch_size % d == 0)
    return size, batch_count * (batch_size // size)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _advice(request: Any, smaller_batch: bool) -> str:
    steps = [f"a smaller size than {request.width}x{request.height}"]
    if smaller_batch:
        steps.append("batch size 1")
    if getattr(request, "enable_hr", False):
        steps.append("a smaller hires fix scale")
    if getattr(request, "control_units", ()):
        steps.append("fewer ControlNet units")
    return "Try " + (", ".join(steps[:-1]) + " or " + steps[-1] if len(steps) > 1 else steps[0]) + "."


def run_with_retry(request: Any, attempt: Callable[[Any], Any]) -> Any:
    """attempt(request) -> GenerationResult, called again once with half the batch if memory runs out.

    `request` must have its seeds resolved: the retry has to reproduce the seeds the first attempt used."""
    try:
        return attempt(request)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        first = _describe(exc)
    # Out of the except block: the traceback (and the tensors its frames hold) is released before collecting.
    release_memory()
    smaller = halved_batch(request.batch_size, request.batch_count)
    if smaller is None:
        raise OutOfMemory(f"Out of memory generating a {request.width}x{request.height} picture ({first}). "
                          f"{_advice(request, False)}")
    size, count = smaller
    log.warning("out of memory with batch size %d (%s); retrying with batch size %d x %d batches",
                request.batch_size, first, size, count)
    try:
        result = attempt(dataclasses.replace(request, batch_size=size, batch_count=count))
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        second = _describe(exc)
    else:
        result.warnings.append(f"Out of memory with batch size {request.batch_size}: retried with batch size "
                               f"{size} ({count} batches). The pictures and seeds are the same.")
        # Clients read batch_size back from the result (A1111's info); they asked for the original one.
        result.request = dataclasses.replace(result.request, batch_size=request.batch_size,
                                             batch_count=request.batch_count)
        return result
    release_memory()
    log.warning("out of memory again with batch size %d (%s): the job fails", size, second)
    raise OutOfMemory(f"Out of memory with batch size {request.batch_size} ({first}), and again with batch "
                      f"size {size} ({second}). {_advice(request, size > 1)}")
