"""Waiting for a queued job from an HTTP route without holding a thread, and turning its end into an answer."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import Request

from modules.core.results import GenerationResult
from modules.service.jobs import FAILED, Job

if TYPE_CHECKING:
    from modules.service.services import Services

POLL_SECONDS = 0.1


class GenerationFailed(Exception):
    """A job failed while running; the message is the job's error."""


async def wait_for(services: Services, job: Job, request: Request | None = None) -> None:
    """Wait without holding a thread; a client that hangs up gets its job interrupted."""
    while not job.done.is_set():
        if request is not None and await request.is_disconnected():
            services.jobs.interrupt(job.id, job.owner)
            return
        await asyncio.sleep(POLL_SECONDS)


def job_result(job: Job) -> GenerationResult:
    if job.status == FAILED:
        raise GenerationFailed(job.error or "the job failed")
    if job.result is not None:
        return job.result
    # Cancelled while still queued: no pictures, as A1111 answers an interrupted run.
    return GenerationResult(request=job.request, images=[], seeds=[], subseeds=[], infotexts=[], interrupted=True)
