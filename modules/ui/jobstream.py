"""Submit a request as a job and stream its progress to a tab: status, preview, then gallery and infotext.

Shared by the txt2img and img2img tabs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.requests import GenerationRequest, RequestError
from modules.service.jobs import CANCELLED, DONE, FAILED, QueueFull

if TYPE_CHECKING:
    from modules.service.services import Services

POLL_SECONDS = 0.2


def user_of(request: gr.Request | None) -> str:
    if request is not None and getattr(request, "username", None):
        return request.username
    # Without accounts each browser session is its own user, so one tab can't stop another's job.
    return f"session-{getattr(request, 'session_hash', None) or 'local'}"


def status_html(text: str, fraction: float | None = None, error: bool = False) -> str:
    bar = f'<progress value="{fraction:.3f}" max="1"></progress>' if fraction is not None else ""
    css = "status-error" if error else "status"
    return f'<div class="{css}">{bar}<span>{html.escape(text)}</span></div>'


def _keep() -> Any:
    return gr.update()


@dataclass
class Update:
    job_id: str | None
    status: str
    preview: Any = field(default_factory=_keep)
    gallery: Any = field(default_factory=_keep)
    info: Any = field(default_factory=_keep)
    seed: Any = field(default_factory=_keep)

    def values(self) -> tuple[Any, ...]:
        return self.job_id, self.status, self.preview, self.gallery, self.info, self.seed


def error(message: str) -> Update:
    return Update(None, status_html(f"Error: {message}", error=True))


def progress_text(services: Services, job: Any) -> str:
    position = services.jobs.position(job)
    if position > 0:
        return f"Queued: {position} job(s) ahead of yours"
    if job.progress is not None:
        p = job.progress
        batch = f", batch {p.batch_index + 1}/{p.batch_count}" if p.batch_count > 1 else ""
        return f"Step {p.step}/{p.steps}{batch}"
    return "Loading model…"


def follow(services: Services, request: GenerationRequest, user: str) -> Iterator[Update]:
    """Check and submit the request, then report until the job ends."""
    try:
        job = services.submit(request, user)
        request = job.request
    except (RequestError, LookupError, ValueError, QueueFull) as exc:
        yield error(str(exc))
        return
    yield Update(job.id, status_html("Queued…", 0.0), seed=request.seed)
    shown = None
    while not job.done.wait(POLL_SECONDS):
        preview = job.preview if job.preview is not shown else gr.update()  # re-encoding it costs CPU
        shown = job.preview
        yield Update(job.id, status_html(progress_text(services, job), job.fraction), preview=preview)
    if job.status == FAILED:
        yield Update(None, status_html(f"Error: {job.error}", error=True), preview=None)
        return
    result = job.result
    if job.status == CANCELLED or result is None:
        yield Update(None, status_html("Interrupted before any picture was made."), preview=None)
        return
    elapsed = (job.finished or time.time()) - (job.started or job.created)
    text = f"{'Interrupted' if result.interrupted else 'Done'}: {len(result.images)} image(s) in {elapsed:.1f} s"
    if result.warnings:
        text += ". Note: " + " ".join(result.warnings)
    gallery = [(path, f"seed {s}") for path, s in zip(result.paths, result.seeds)] or result.images
    yield Update(None, status_html(text, 1.0 if job.status == DONE else None), preview=None, gallery=gallery,
                 info=result.info, seed=result.seeds[0] if result.seeds else gr.update())
