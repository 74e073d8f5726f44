"""Our own `/api/v1/jobs`: submit without waiting, look, list mine, cancel, and follow progress as SSE.

A job is visible to its owner and to admins; to anyone else it does not exist (404, not 403).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from modules.api.auth import Caller
from modules.api.images import encode_image
from modules.api.schemas import BoundedRoute, DetectedMapOut, JobSummary, Txt2ImgPayload
from modules.api.sdapi import submit_txt2img
from modules.service.jobs import FINISHED, Job

if TYPE_CHECKING:
    from modules.service.services import Services

EVENT_SECONDS = 0.25


def summary(services: Services, job: Job, with_images: bool = False) -> JobSummary:
    out = JobSummary(id=job.id, owner=job.owner, status=job.status, progress=round(job.fraction, 4),
                     position=services.jobs.position(job), created=job.created, started=job.started,
                     finished=job.finished, error=job.error)
    if job.result is not None:
        out.info = job.result.info
        out.worker = job.result.worker or None
        out.memory = job.result.memory or None
        if with_images:
            out.images = [encode_image(image, text)
                          for image, text in zip(job.result.images, job.result.infotexts)]
            if job.result.detected_maps:
                out.detected_maps = [DetectedMapOut(unit=m.unit, module=m.module, image=encode_image(m.image))
                                     for m in job.result.detected_maps]
    return out


def visible_job(services: Services, job_id: str, caller: Caller) -> Job:
    job = services.jobs.get(job_id)
    if job is None or (job.owner != caller.name and not caller.is_admin):
        raise HTTPException(404, f"No job {job_id!r} of yours.")
    return job


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def job_events(services: Services, job: Job, request: Request) -> AsyncIterator[str]:
    """`progress` events while the job waits or runs (with a preview when a new one is there), then `done`."""
    last: tuple[Any, ...] | None = None
    last_preview = None
    while job.status not in FINISHED:
        state = summary(services, job)
        key = (state.status, state.progress, state.position)
        data = state.model_dump(exclude_none=True)
        if job.preview is not None and job.preview is not last_preview:
            last_preview = job.preview
            data["preview"] = encode_image(job.preview)
            key += (id(job.preview),)
        if key != last:
            last = key
            yield _event("progress", data)
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_SECONDS)
    yield _event("done", summary(services, job).model_dump(exclude_none=True))


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["jobs"], route_class=BoundedRoute)
    who = Depends(current_caller)

    @router.get("/health")
    def health(caller: Caller = who) -> dict[str, Any]:
        return {"status": "ok"}

    @router.post("/jobs", status_code=202, response_model=JobSummary)
    def submit(payload: Txt2ImgPayload, caller: Caller = who) -> JobSummary:
        job, _warnings = submit_txt2img(services, payload, caller)
        return summary(services, job)

    @router.get("/jobs", response_model=list[JobSummary])
    def list_jobs(all: bool = False, caller: Caller = who) -> list[JobSummary]:
        if all and caller.is_admin:
            jobs = services.jobs.all_jobs()
        else:
            jobs = services.jobs.jobs_of(caller.name)
        return [summary(services, job) for job in jobs]

    @router.get("/jobs/{job_id}", response_model=JobSummary)
    def get_job(job_id: str, images: bool = True, caller: Caller = who) -> JobSummary:
        return summary(services, visible_job(services, job_id, caller), with_images=images)

    @router.post("/jobs/{job_id}/cancel", response_model=JobSummary)
    @router.delete("/jobs/{job_id}", response_model=JobSummary)
    def cancel(job_id: str, caller: Caller = who) -> JobSummary:
        job = visible_job(services, job_id, caller)
        services.jobs.interrupt(job.id, caller.name, is_admin=caller.is_admin)
        return summary(services, job)

    @router.get("/jobs/{job_id}/events")
    def events(job_id: str, request: Request, caller: Caller = who) -> StreamingResponse:
        job = visible_job(services, job_id, caller)
        return StreamingResponse(job_events(services, job, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router
