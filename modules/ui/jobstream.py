"""Submit a request as a job and stream its progress to a tab: status, preview, then gallery and infotext.

Shared by the txt2img and img2img tabs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.requests import GenerationRequest, RequestError
from modules.core.user_options import request_fields
from modules.service.jobs import CANCELLED, DONE, FAILED, QUEUED, QueueFull
from modules.ui.outputs_view import saved_html

if TYPE_CHECKING:
    from modules.service.services import Services

POLL_SECONDS = 0.2


def user_of(request: gr.Request | None) -> str:
    if request is not None and getattr(request, "username", None):
        return request.username
    # Without accounts each browser session is its own user, so one tab can't stop another's job.
    return f"session-{getattr(request, 'session_hash', None) or 'local'}"


def status_html(text: str, fraction: float | None = None, error: bool = False, running: bool = False,
                after: str = "") -> str:
    """The status line; `running` marks a job in progress (Escape interrupts it), `after` is trusted HTML."""
    bar = f'<progress value="{fraction:.3f}" max="1"></progress>' if fraction is not None else ""
    css = "status-error" if error else "status status-running" if running else "status"
    return f'<div class="{css}">{bar}<span>{html.escape(text)}</span>{after}</div>'


def _keep() -> Any:
    return gr.update()


@dataclass
class Update:
    job_id: Any  # the job Interrupt/Skip act on; gr.update() leaves it as another stream of the tab set it
    status: str
    preview: Any = field(default_factory=_keep)
    gallery: Any = field(default_factory=_keep)
    info: Any = field(default_factory=_keep)
    seed: Any = field(default_factory=_keep)

    def values(self) -> tuple[Any, ...]:
        return self.job_id, self.status, self.preview, self.gallery, self.info, self.seed


def error(message: str) -> Update:
    # The tab's job id is kept: a second Generate refused here must not unhook Interrupt from the running job.
    return Update(gr.update(), status_html(f"Error: {message}", error=True))


def waiting_behind_own(services: Services, job: Any) -> bool:
    """True while the job waits for another job of the same user (a second Generate click, or the API)."""
    if job.status != QUEUED:
        return False
    front = services.jobs.current_of(job.owner)
    return front is not None and front is not job


def queued_note(services: Services, job: Any) -> str:
    waiting = sum(1 for j in services.jobs.jobs_of(job.owner) if j is not job and j.status == QUEUED)
    return f" · {waiting} more of your jobs queued after this one" if waiting else ""


def progress_text(services: Services, job: Any) -> str:
    position = services.jobs.position(job)
    if position > 0:
        return f"Queued: {position} job(s) ahead of yours"
    if job.progress is not None:
        p = job.progress
        batch = f", batch {p.batch_index + 1}/{p.batch_count}" if p.batch_count > 1 else ""
        return f"Step {p.step}/{p.steps}{batch}"
    return "Loading model…"


def gallery_items(result: Any) -> list[Any]:
    """The saved pictures (or the pictures, when none was saved), then the ControlNet maps as
    sd-webui-controlnet shows them after the pictures: shown only, never saved."""
    items: list[Any] = [(path, f"seed {s}") for path, s in zip(result.paths, result.seeds)] or list(result.images)
    return items + [(m.image, f"ControlNet {m.unit}: {m.module}") for m in result.detected_maps]


def follow(services: Services, request: GenerationRequest, user: str) -> Iterator[Update]:
    """Check and submit the request, then report until the job ends."""
    try:
        # The user's A1111 settings (ENSD, colour correction...), set through /sdapi/v1/options, act here too.
        request = replace(request, **request_fields(services.user_settings.get(user)))
        job = services.submit(request, user)
        request = job.request
    except (RequestError, LookupError, ValueError, QueueFull) as exc:
        if services.jobs.current_of(user) is not None:
            # The running job's stream rewrites the status line at once: say it where it stays (a toast).
            gr.Warning(f"Not queued: {exc}")
        yield error(str(exc))
        return
    # Generate clicked again while a job runs queues another (as ComfyUI's and InvokeAI's queues do). The
    # streams of one tab share its status line, so only the stream of the user's front job reports (counting
    # the others), and each sets the tab's job id only once its own job is in front: Interrupt, Skip and
    # Escape act on the job that runs, and a finished stream never unhooks them from the next one.
    if waiting_behind_own(services, job):
        yield Update(gr.update(), status_html("Queued after your running job: it starts when that one ends.",
                                              running=True), seed=request.seed)
    else:
        yield Update(job.id, status_html("Queued…", 0.0, running=True), seed=request.seed)
    shown = None
    while not job.done.wait(POLL_SECONDS):
        if waiting_behind_own(services, job):
            continue
        preview = job.preview if job.preview is not shown else gr.update()  # re-encoding it costs CPU
        shown = job.preview
        text = progress_text(services, job) + queued_note(services, job)
        yield Update(job.id, status_html(text, job.fraction, running=True), preview=preview)
    if job.status == FAILED:
        yield Update(gr.update(), status_html(f"Error: {job.error}", error=True), preview=None)
        return
    result = job.result
    if job.status == CANCELLED or result is None:
        yield Update(gr.update(), status_html("Interrupted before any picture was made."), preview=None)
        return
    elapsed = (job.finished or time.time()) - (job.started or job.created)
    text = f"{'Interrupted' if result.interrupted else 'Done'}: {len(result.images)} image(s) in {elapsed:.1f} s"
    if result.warnings:
        text += ". Note: " + " ".join(result.warnings)
    gallery = gallery_items(result)
    saved = saved_html(result.paths, services.outputs.root)  # where the pictures went, as links to open them
    # Opened on the first picture, with its caption and the download and fullscreen buttons, not a grid.
    yield Update(gr.update(), status_html(text, 1.0 if job.status == DONE else None, after=saved), preview=None,
                 gallery=gr.update(value=gallery, selected_index=0), info=result.info,
                 seed=result.seeds[0] if result.seeds else gr.update())
