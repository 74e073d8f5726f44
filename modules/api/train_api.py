"""`POST /api/v1/train/lora`: LoRA training as a queued job (A1111 has no training route). The answer is the job
(202), visible at `/api/v1/jobs/{id}` like any job; `GET /api/v1/train/lora/{id}` adds the step, the losses and
the newest sample pictures. When it is done the LoRA is in `/sdapi/v1/loras` and the job's `info` names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from modules.api.auth import Caller
from modules.api.images import decode_image
from modules.api.jobs_api import summary, visible_job
from modules.api.schemas import BoundedRoute, JobSummary
from modules.core.requests import RequestError
from modules.service import lora_trainer
from modules.service.lora_trainer import LoraTrainRequest, TrainImage, TrainStepInfo

if TYPE_CHECKING:
    from modules.service.services import Services

MAX_LOSSES = 500  # points of the loss curve returned (evenly thinned): a long run must not make a huge answer


class TrainPicture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="The picture as base64 (bare or a data: URI)")
    caption: str = Field("", description="Its caption; empty: the prompt of its infotext, else `caption`")


class LoraTrainPayload(BaseModel):
    """Unknown fields are refused (422), never ignored: a misspelt `learning_rte` must not train at 1e-4."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="File name in models/Lora, without extension; an existing name is refused")
    checkpoint: str = Field("", description="Base checkpoint (SD 1.x, 2.x, SDXL); empty: the default one")
    trigger: str = Field("", description="Trigger word, added at the end of every caption that lacks it")
    images: list[TrainPicture] = Field(default_factory=list, max_length=lora_trainer.MAX_PICTURES)
    history_ids: list[int] = Field(default_factory=list, max_length=lora_trainer.MAX_PICTURES,
                                   description="Pictures from your History (ids of /api/v1/history)")
    caption: str = Field("", description="Caption for pictures with neither their own caption nor an infotext")
    steps: int = Field(500, ge=1, le=100_000)
    rank: int = Field(8, ge=1, le=256)
    alpha: float = Field(0.0, ge=0, le=1024, description="LoRA alpha; 0: the rank (scale 1)")
    learning_rate: float = Field(1e-4, gt=0, le=0.1)
    batch_size: int = Field(1, ge=1, le=64)
    resolution: int = Field(0, ge=0, le=2048, description="Training side in pixels; 0: the checkpoint's native")
    buckets: bool = Field(True, description="Aspect-ratio buckets; false: centre-crop every picture square")
    ema_decay: float = Field(0.0, ge=0, lt=1, description="EMA of the adapter weights (e.g. 0.99); 0: off")
    min_snr_gamma: float = Field(5.0, ge=0, le=100, description="Min-SNR-γ loss weighting; 0: off")
    caption_dropout: float = Field(0.0, ge=0, lt=1)
    sample_every: int = Field(0, ge=0, description="Draw a sample picture every N steps; 0: at the end only")
    sample_prompt: str = Field("", description="Prompt of the sample pictures; empty: the first caption")
    seed: int = Field(0, ge=0)
    preserve: float = Field(1.0, ge=0, le=10, description="Keep the model as it was for captions without the "
                            "trigger (output preservation; 0: off; used only with a trigger)")
    text_encoder_lr: float = Field(0.0, ge=0, le=0.1, description="Also train a LoRA on the text encoder(s) at "
                                   "this learning rate (kohya's lora_te_* keys); 0: the text encoder stays as it is")


class TrainStatus(BaseModel):
    job: JobSummary
    step: int = 0
    steps: int = 0
    loss: float | None = None
    losses: list[float] = Field(default_factory=list, description="Loss per step (thinned to 500 points)")
    samples: list[str] = Field(default_factory=list, description="The newest sample pictures, base64 PNG")
    lora: str | None = None


def _thin(values: list[float]) -> list[float]:
    if len(values) <= MAX_LOSSES:
        return list(values)
    return [values[i * len(values) // MAX_LOSSES] for i in range(MAX_LOSSES)]


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["train"], route_class=BoundedRoute)

    @router.post("/train/lora", status_code=202, response_model=JobSummary)
    def submit_training(payload: LoraTrainPayload, caller: Caller = Depends(current_caller)) -> JobSummary:
        """Queue a LoRA training; follow it at /api/v1/jobs/{id} or /api/v1/train/lora/{id}."""
        full_rights = caller.is_admin or not caller.authenticated  # an instance without accounts: its user
        pictures = [TrainImage(decode_image(p.image, f"Picture {n}"), p.caption)
                    for n, p in enumerate(payload.images, start=1)]
        if payload.history_ids:
            if services.history is None:
                raise RequestError("This server keeps no History; send the pictures in `images`.")
            pictures += lora_trainer.history_pictures(services.history, payload.history_ids,
                                                      None if full_rights else caller.name)
        fields = payload.model_dump(exclude={"images", "history_ids"})
        request = LoraTrainRequest(init_images=tuple(pictures), **fields)
        request = lora_trainer.check_allowed(services.ui_settings, caller.name, full_rights, request)
        return summary(services, services.submit(request, caller.name))

    @router.get("/train/lora/{job_id}", response_model=TrainStatus)
    def training_status(job_id: str, caller: Caller = Depends(current_caller)) -> TrainStatus:
        """The job with its step, loss curve and newest sample pictures."""
        from modules.api.images import encode_image

        job = visible_job(services, job_id, caller)
        status = TrainStatus(job=summary(services, job))
        progress = job.progress
        if isinstance(progress, TrainStepInfo):
            status.step, status.steps, status.loss = progress.step, progress.steps, progress.loss
            status.losses = _thin(progress.losses)
            status.samples = [encode_image(image) for image in progress.samples]
        result = job.result
        if isinstance(result, lora_trainer.LoraTrainResult):
            status.step, status.losses = result.steps_done, _thin(result.losses)
            status.lora = result.lora or None
            if result.images:
                status.samples = [encode_image(image, text) for image, text in zip(result.images, result.infotexts)]
        return status

    return router
