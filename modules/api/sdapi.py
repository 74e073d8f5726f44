"""A1111-compatible `/sdapi/v1` routes. Jobs go through the same queue as the UI, owned by the caller.

Per-user where A1111 is global: `options` (the caller's default checkpoint, VAE, clip skip), `progress`,
`interrupt` and `skip` (the caller's own job).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from modules.api import a1111_options, convert
from modules.api.auth import Caller
from modules.api.images import decode_image, encode_image
from modules.api.schemas import (
    BoundedRoute,
    ImageResponse,
    Img2ImgPayload,
    PngInfoPayload,
    PngInfoResponse,
    ProgressResponse,
    ProgressState,
    Sampler,
    Scheduler,
    SdModel,
    SdVae,
    Txt2ImgPayload,
    refuse_unsafe_json,
)
from modules.api.waiting import job_result, wait_for
from modules.core.infotext import image_metadata, read_image_infotext
from modules.engine.samplers import SCHEDULE_TYPES
from modules.service.jobs import RUNNING, Job

if TYPE_CHECKING:
    from modules.service.services import Services



def submit_txt2img(services: Services, payload: Txt2ImgPayload, caller: Caller) -> tuple[Job, list[str]]:
    """Validate (so bad input fails now, not after waiting in the queue) and queue the job."""
    request, warnings = convert.payload_to_request(payload, services, services.user_settings.get(caller.name))
    return services.submit(request, caller.name), warnings


def submit_img2img(services: Services, payload: Img2ImgPayload, caller: Caller) -> tuple[Job, list[str]]:
    request, warnings = convert.img2img_payload_to_request(payload, services, services.user_settings.get(caller.name))
    return services.submit(request, caller.name), warnings


def model_of(services: Services, request: Any) -> Any:
    try:
        return services.models.resolve(request.checkpoint)
    except LookupError:
        return None


def progress_of(services: Services, job: Job | None, skip_image: bool) -> ProgressResponse:
    if job is None:
        return ProgressResponse(progress=0.0, eta_relative=0.0, state=ProgressState(), textinfo=None)
    position = services.jobs.position(job)
    step = job.progress
    fraction = job.fraction
    eta = 0.0
    if job.status == RUNNING and job.started and fraction > 0:
        elapsed = time.time() - job.started
        eta = elapsed / fraction - elapsed
    state = ProgressState(
        skipped=job.control.skip.is_set(), interrupted=job.control.interrupt.is_set(),
        job=f"job-{job.id}", job_count=job.request.batch_count,
        job_timestamp=time.strftime("%Y%m%d%H%M%S", time.localtime(job.created)),
        job_no=step.batch_index if step else 0, sampling_step=step.step if step else 0,
        sampling_steps=step.steps if step else job.request.steps)
    if position > 0:
        text = f"Queued: {position} job(s) ahead of yours"
    elif step is not None:
        text = f"Step {step.step}/{step.steps}"
    else:
        text = "Starting…"
    image = None if skip_image or job.preview is None else encode_image(job.preview)
    return ProgressResponse(progress=round(fraction, 4), eta_relative=round(eta, 3), state=state,
                            current_image=image, textinfo=text, queue_position=position)


def options_of(services: Services, user: str) -> dict[str, Any]:
    """Every A1111 1.10 option for this user: their own values over what is in force on this server."""
    mine = services.user_settings.get(user)
    checkpoint = None
    if mine.get("sd_model_checkpoint"):
        try:
            checkpoint = convert.find_checkpoint(services.models, mine["sd_model_checkpoint"])
        except LookupError:
            checkpoint = None  # removed from disk since; fall back to the server's default
    checkpoint = checkpoint or services.models.default_checkpoint()
    values = a1111_options.values_for(mine, lambda key: a1111_options.in_force(services, key))
    values["sd_model_checkpoint"] = checkpoint.title if checkpoint else None
    values["sd_checkpoint_hash"] = checkpoint.sha256 if checkpoint else None
    return values


def set_options(services: Services, user: str, body: dict[str, Any]) -> None:
    """A1111's POST /options, per user: all keys checked before any is stored (see a1111_options)."""
    refuse_unsafe_json(body, "The options")
    specials = {
        "sd_model_checkpoint": lambda v: convert.find_checkpoint(services.models, v).name if v else None,
        "sd_vae": lambda v: convert.check_vae(services.models, v),
        "forge_additional_modules": lambda v: convert.check_modules(services.models, v),
    }
    changes = a1111_options.check_changes(body, lambda key: a1111_options.in_force(services, key), specials)
    if changes:
        services.user_settings.update(user, changes)


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["A1111 compatible"], route_class=BoundedRoute)
    who = Depends(current_caller)

    @router.post("/txt2img", response_model=ImageResponse)
    async def txt2img(payload: Txt2ImgPayload, request: Request, caller: Caller = who) -> dict[str, Any]:
        # Decoding pictures and validating take a thread, not the event loop every other request waits on.
        job, warnings = await run_in_threadpool(submit_txt2img, services, payload, caller)
        await wait_for(services, job, request)
        result = job_result(job)
        return convert.image_response(result, payload, warnings, model_of(services, result.request))

    @router.post("/img2img", response_model=ImageResponse)
    async def img2img(payload: Img2ImgPayload, request: Request, caller: Caller = who) -> dict[str, Any]:
        job, warnings = await run_in_threadpool(submit_img2img, services, payload, caller)
        await wait_for(services, job, request)
        result = job_result(job)
        return convert.image_response(result, payload, warnings, model_of(services, result.request))

    @router.get("/progress", response_model=ProgressResponse)
    def progress(skip_current_image: bool = False, caller: Caller = who) -> ProgressResponse:
        return progress_of(services, services.jobs.current_of(caller.name), skip_current_image)

    @router.post("/interrupt")
    def interrupt(caller: Caller = who) -> dict[str, Any]:
        job = services.jobs.current_of(caller.name)
        if job is not None:
            services.jobs.interrupt(job.id, caller.name)
        return {}

    @router.post("/skip")
    def skip(caller: Caller = who) -> dict[str, Any]:
        job = services.jobs.current_of(caller.name)
        if job is not None:
            services.jobs.skip(job.id, caller.name)
        return {}

    @router.get("/options")
    def get_options(caller: Caller = who) -> dict[str, Any]:
        return options_of(services, caller.name)

    @router.post("/options")
    def post_options(body: dict[str, Any] | None = Body(default=None), caller: Caller = who) -> None:
        set_options(services, caller.name, body or {})

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(payload: PngInfoPayload, caller: Caller = who) -> PngInfoResponse:
        image = decode_image(payload.image, "The image", services.processor.limits)
        text = read_image_infotext(image) or ""
        items = {k: v for k, v in image_metadata(image).items() if k != "parameters"}
        return PngInfoResponse(info=text, items=items, parameters=convert.pnginfo_parameters(text) if text else {})

    add_listing_routes(router, services, who)
    return router


def add_listing_routes(router: APIRouter, services: Services, who: Any) -> None:
    @router.get("/sd-models", response_model=list[SdModel])
    def sd_models(caller: Caller = who) -> list[SdModel]:
        return [SdModel(title=i.title, model_name=i.model_name, hash=i.short_hash, sha256=i.sha256,
                        filename=str(i.path)) for i in services.models.checkpoints.usable()]

    @router.get("/sd-vae", response_model=list[SdVae])
    def sd_vae(caller: Caller = who) -> list[SdVae]:
        return [SdVae(model_name=v.name, filename=str(v.path)) for v in services.models.vaes]

    @router.get("/samplers", response_model=list[Sampler])
    def samplers(caller: Caller = who) -> list[Sampler]:
        out = []
        for name in services.samplers.names():
            spec = services.samplers.resolve(name)
            options = {} if spec.default_schedule == "Automatic" else {"scheduler": spec.default_schedule.lower()}
            out.append(Sampler(name=spec.name, aliases=list(spec.aliases), options=options))
        return out

    @router.get("/schedulers", response_model=list[Scheduler])
    def schedulers(caller: Caller = who) -> list[Scheduler]:
        return [Scheduler(name=label.lower().replace(" ", "_"), label=label) for label in SCHEDULE_TYPES]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints(caller: Caller = who) -> None:
        services.models.refresh()

    @router.post("/refresh-vae")
    def refresh_vae(caller: Caller = who) -> None:
        services.models.refresh()

    @router.post("/refresh-loras")
    def refresh_loras(caller: Caller = who) -> None:
        services.models.refresh()

    @router.get("/loras")
    def loras(caller: Caller = who) -> list[dict[str, Any]]:
        # A1111's shape: name, alias, path, metadata (the safetensors header's __metadata__).
        return [{"name": i.name, "alias": i.alias, "path": str(i.path), "metadata": i.metadata}
                for i in services.models.loras if not i.error]

    @router.get("/embeddings")
    def embeddings(caller: Caller = who) -> dict[str, Any]:
        from modules.engine.models.embeddings import describe

        loaded, skipped = {}, {}
        for info in services.models.embeddings:
            facts = describe(info)
            (skipped if "error" in facts else loaded)[info.name] = facts
        return {"loaded": loaded, "skipped": skipped}

    @router.get("/scripts")
    def scripts(caller: Caller = who) -> dict[str, Any]:
        # A1111 lists script names as title().lower(): clients send them back as script_name.
        scripts = services.extensions.scripts() if services.extensions else []
        return {panel: [s.title.lower() for s in scripts if panel in s.panels] for panel in ("txt2img", "img2img")}

    # The other A1111 routes (styles, extensions, memory, cmd-flags...): modules/api/discovery.py; face-restorers:
    # extras_api (the restorers whose model files are here).
