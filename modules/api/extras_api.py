"""A1111's upscaler routes: /sdapi/v1/upscalers, latent-upscale-modes, extra-single-image, extra-batch-images.
Extras run as jobs in the shared queue, owned by the caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from modules.api.auth import Caller
from modules.api.images import decode_image, encode_image
from modules.api.schemas import BoundedRoute, Float, Int, Lenient
from modules.api.waiting import GenerationFailed, wait_for
from modules.core.requests import RequestError
from modules.core.validation import check_picture_budget
from modules.engine.extras import ExtrasRequest, target_size
from modules.engine.faces.restorers import available_restorers
from modules.engine.upscaling import LATENT_MODES, UpscalerRegistry
from modules.service.jobs import FAILED, Job

if TYPE_CHECKING:
    from modules.service.services import Services

class ExtrasPayload(Lenient):
    """A1111's ExtrasBaseRequest. Face restoration runs when its model file is in models/GFPGAN or
    models/Codeformer; asked for without it, the request is refused with the file names to put there."""

    resize_mode: Int = 0
    show_extras_results: bool = True
    gfpgan_visibility: Float = 0.0
    codeformer_visibility: Float = 0.0
    codeformer_weight: Float = 0.0
    upscaling_resize: Float = 2.0
    upscaling_resize_w: Int = 512
    upscaling_resize_h: Int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: Float = 0.0
    upscale_first: bool = False


class ExtrasSinglePayload(ExtrasPayload):
    image: str = ""


class FileData(Lenient):
    data: str = ""
    name: str = ""


class ExtrasBatchPayload(ExtrasPayload):
    imageList: list[FileData] = Field(default_factory=list)  # noqa: N815 (A1111's name)


class ExtrasSingleResponse(BaseModel):
    html_info: str
    image: str | None = None


class ExtrasBatchResponse(BaseModel):
    html_info: str
    images: list[str]


class UpscalerItem(BaseModel):
    name: str
    model_name: str | None = None
    model_path: str | None = None
    model_url: str | None = None
    scale: float | None = None


def upscaler_items(upscalers: UpscalerRegistry) -> list[UpscalerItem]:
    items = []
    for up in upscalers.all():
        is_model = up.kind == "model"
        items.append(UpscalerItem(name=up.name, model_name=up.architecture if is_model else None,
                                  model_path=str(up.path) if up.path else None, model_url=None,
                                  scale=up.scale if is_model else (None if up.name == "None" else 4.0)))
    return items


def _request(payload: ExtrasPayload, images: list[Any], names: list[str]) -> ExtrasRequest:
    return ExtrasRequest(init_images=tuple(images), names=tuple(names), resize_mode=payload.resize_mode,
                         upscaling_resize=payload.upscaling_resize, upscaling_resize_w=payload.upscaling_resize_w,
                         upscaling_resize_h=payload.upscaling_resize_h, upscaling_crop=payload.upscaling_crop,
                         upscaler_1=payload.upscaler_1 or "None", upscaler_2=payload.upscaler_2 or "None",
                         extras_upscaler_2_visibility=payload.extras_upscaler_2_visibility,
                         gfpgan_visibility=payload.gfpgan_visibility, codeformer_visibility=payload.codeformer_visibility,
                         codeformer_weight=payload.codeformer_weight)


def _submit(services: Services, payload: ExtrasPayload, data: list[Any], names: list[str], caller: Caller,
            field: str) -> Job:
    """Open the pictures (headers only), check what the request would hold, and queue it; `validate_extras`
    decodes them at submit. Runs in a thread: decoding must not hold the event loop."""
    limits = services.processor.limits
    if len(data) > limits.max_input_images:  # before decoding any
        raise RequestError(f"The request has {len(data)} pictures; at most {limits.max_input_images} are allowed "
                           "in one request. Send fewer, or split them over several requests.")
    images = [decode_image(item, field.format(i), limits, load=False) for i, item in enumerate(data)]
    check_picture_budget([image.size for image in images], limits)
    request = _request(payload, images, names)
    try:  # the results are held until the client has them: bound them as the uploads are
        scale = (int(request.resize_mode), float(request.upscaling_resize), int(request.upscaling_resize_w),
                 int(request.upscaling_resize_h))
        made = sum(w * h for w, h in (target_size(image.size, *scale) for image in images))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        made = 0  # validate_extras says what is wrong with the numbers
    if made > limits.max_input_pixels and request.upscaler_1 != "None":
        raise RequestError(f"The upscaled pictures would hold {made:,} pixels, over the limit of "
                           f"{limits.max_input_pixels:,} pixels per request. Upscale less, or send fewer pictures "
                           "per request.")
    return services.submit(request, caller.name)


async def _run(services: Services, payload: ExtrasPayload, data: list[Any], names: list[str], http: Request,
               caller: Caller, field: str) -> Any:
    job = await run_in_threadpool(_submit, services, payload, data, names, caller, field)
    await wait_for(services, job, http)
    if job.status == FAILED:
        raise GenerationFailed(job.error or "the job failed")
    if job.result is None:
        raise GenerationFailed("The job was cancelled before it ran.")
    return job.result


def _html_info(result: Any) -> str:
    return "\n".join([result.info] + list(result.warnings)).strip()


def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["A1111 compatible"], route_class=BoundedRoute)
    who = Depends(current_caller)

    def registry() -> UpscalerRegistry:
        return services.upscalers

    @router.get("/upscalers", response_model=list[UpscalerItem])
    def upscalers(caller: Caller = who) -> list[UpscalerItem]:
        return upscaler_items(registry())

    @router.get("/face-restorers")
    def face_restorers(caller: Caller = who) -> list[dict[str, str | None]]:
        """A1111's list, {name, cmd_dir}: the restorers whose model file is in their folder here."""
        return available_restorers(services.faces) if services.faces is not None else []

    @router.get("/latent-upscale-modes")
    def latent_modes(caller: Caller = who) -> list[dict[str, str]]:
        return [{"name": name} for name in LATENT_MODES]

    @router.post("/refresh-upscalers")
    def refresh(caller: Caller = who) -> dict[str, Any]:
        registry().refresh()
        return {"unsupported": [{"path": p, "reason": r} for p, r in registry().unsupported()]}

    @router.post("/extra-single-image", response_model=ExtrasSingleResponse)
    async def single(payload: ExtrasSinglePayload, request: Request, caller: Caller = who) -> ExtrasSingleResponse:
        result = await _run(services, payload, [payload.image], ["image"], request, caller, "image")
        out = encode_image(result.images[0], result.infotexts[0] or None) if result.images else None
        return ExtrasSingleResponse(html_info=_html_info(result), image=out)

    @router.post("/extra-batch-images", response_model=ExtrasBatchResponse)
    async def batch(payload: ExtrasBatchPayload, request: Request, caller: Caller = who) -> ExtrasBatchResponse:
        if not payload.imageList:
            raise RequestError("imageList is empty: send [{\"data\": <base64>, \"name\": <file name>}, ...].")
        names = [item.name or f"image-{i}" for i, item in enumerate(payload.imageList)]
        result = await _run(services, payload, [item.data for item in payload.imageList], names, request, caller,
                            "imageList[{}].data")
        return ExtrasBatchResponse(html_info=_html_info(result),
                                   images=[encode_image(im, info or None)
                                           for im, info in zip(result.images, result.infotexts)])

    return router


