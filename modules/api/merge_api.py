"""`POST /api/v1/merge`: the Checkpoint Merger as a queued job (A1111 has no merge route). The answer is the
job (202); follow it at `/api/v1/jobs/{id}`. When it is done the new checkpoint is in `/sdapi/v1/sd-models`
and the job's `info` names it. Any logged-in user may merge, as in A1111's tab."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modules.api.auth import Caller
from modules.api.jobs_api import summary
from modules.api.schemas import BoundedRoute, JobSummary
from modules.service.merger import NO_VAE, MergeRequest

if TYPE_CHECKING:
    from modules.service.services import Services


class MergePayload(BaseModel):
    """Unknown fields are refused (422), never ignored: a misspelt `multipler` must not merge at 0.5."""

    model_config = ConfigDict(extra="forbid")

    primary: str = Field(description="Checkpoint A: name, title or hash, as in /sdapi/v1/sd-models")
    secondary: str = Field(description="Checkpoint B, of A's family")
    tertiary: str = Field("", description="Checkpoint C, for add_difference only")
    mode: Literal["weighted_sum", "add_difference"] = Field(
        "weighted_sum", description="weighted_sum: A*(1-M) + B*M; add_difference: A + (B-C)*M")
    multiplier: float = Field(0.5, ge=-1.0, le=2.0, description="M")
    block_weights: list[float] = Field(
        default_factory=list, max_length=64,
        description="Optional M per UNet block, in order IN00.., M00, OUT00.. (25 for SD 1.x/2.x, 19 for SDXL); "
                    "other weights (text encoder, VAE, time embedding) use `multiplier`")
    name: str = Field("", description="File name without extension; empty: made from the sources. An existing "
                                      "name is refused")
    save_as_half: bool = Field(False, description="Save as float16; otherwise in the primary's dtype")
    bake_in_vae: str = Field(NO_VAE, description="A VAE from models/VAE that replaces the merged VAE weights")


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["merge"], route_class=BoundedRoute)

    @router.post("/merge", status_code=202, response_model=JobSummary)
    def submit_merge(payload: MergePayload, caller: Caller = Depends(current_caller)) -> JobSummary:
        request = MergeRequest(primary=payload.primary, secondary=payload.secondary, tertiary=payload.tertiary,
                               method=payload.mode, multiplier=payload.multiplier,
                               block_weights=tuple(payload.block_weights), name=payload.name,
                               save_as_half=payload.save_as_half, bake_in_vae=payload.bake_in_vae)
        return summary(services, services.submit(request, caller.name))

    return router
