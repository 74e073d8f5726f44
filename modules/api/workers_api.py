"""GET /api/v1/workers (admins): the generation workers, what each holds and runs, and how it has fared."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from modules.api.auth import Caller
from modules.api.schemas import BoundedRoute
from modules.service.workers.listing import list_workers

if TYPE_CHECKING:
    from modules.service.services import Services


class WorkerOut(BaseModel):
    name: str
    host: str
    device: str
    dtype: str
    memory_used: int  # bytes: GPU memory allocated, or the worker process's resident memory on a CPU
    memory_total: int  # bytes: the GPU's memory, or the machine's RAM
    loaded: list[str]  # checkpoints in its RAM cache
    current_job: str | None
    jobs_done: int
    last_error: str | None
    alive: bool
    remote: bool  # a Ray worker (False: this process draws, no --workers)


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["workers"], route_class=BoundedRoute)

    @router.get("/workers", response_model=list[WorkerOut])
    def workers(caller: Caller = Depends(current_caller)) -> list[WorkerOut]:
        # Without accounts every caller is a guest of a local instance, as for the Settings tab: allowed.
        if caller.authenticated and not caller.is_admin:
            raise HTTPException(403, "Only an admin can list the workers; log in as one.")
        return [WorkerOut(**info.__dict__) for info in list_workers(services)]

    return router
