"""The workers an admin sees: the Ray workers, or the one in-process worker of an instance without them."""

from __future__ import annotations

import os
from typing import Any

from modules.service.workers.pool import WorkerInfo


def list_workers(services: Any) -> list[WorkerInfo]:
    """`services` is the app's Services. Without --workers the process itself is the one worker, listed the same
    way so the admin panel and GET /api/v1/workers always answer."""
    if services.workers is not None:
        return services.workers.workers()
    running = [job for job in services.jobs.all_jobs() if job.status == "running"]
    finished = [job for job in services.jobs.all_jobs() if job.status == "done"]
    failed = [job for job in services.jobs.all_jobs() if job.status == "failed" and job.error]
    device = services.device
    return [WorkerInfo(name="in-process", host=os.uname().nodename, device=str(device.device),
                       dtype=str(device.dtype).replace("torch.", ""), memory_used=_rss(), memory_total=_ram(),
                       loaded=[_name(key, services) for key in services.models.loaded_names()],
                       current_job=running[0].id if running else None, jobs_done=len(finished),
                       last_error=failed[-1].error if failed else None, alive=True, remote=False)]


def _name(key: str, services: Any) -> str:
    for info in services.models.checkpoints.usable():
        if str(info.path) == key:
            return info.name
    return os.path.basename(key)


def _rss() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def _ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, AttributeError, OSError):
        return 0
