"""Pydantic models at the API's edge, with A1111's field names and defaults.

Tolerant as A1111 is: unknown fields are ignored, `null` means "the default", numbers may come as strings
and floats where ints are expected. Range checks are not repeated here: the core's `validate` does them
with messages that teach. What JSON cannot hold in an answer (NaN, Infinity, lone surrogates) is refused here,
and `BoundedRoute` bounds the size of a request's body.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from modules.core.requests import RequestError


def _lenient_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        return int(value)  # A1111 (pydantic 1) truncates 20.0 and 20.5 alike
    return value


def _lenient_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    return value


Int = Annotated[int, BeforeValidator(_lenient_int)]
Float = Annotated[float, BeforeValidator(_lenient_float)]

# ---------------------------------------------------------------------------------------------- what JSON cannot hold
# Python's JSON reader accepts NaN, Infinity and 1e400 (as inf), and "\ud800" (a lone surrogate); neither can be
# written back, so the answer that would quote them (an error listing the input, the echoed `parameters`) fails
# with a 500. They are refused where they come in, with errors that quote them safely.


def unsafe_json(value: Any) -> tuple[tuple[Any, ...], str, str] | None:
    """(where, what is wrong, the value written safely) of the first non-finite number or lone surrogate in a
    JSON value, or None. Walks without recursion: a JSON body may nest deeper than Python's stack."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, (f"must be a finite number, got {item}: NaN, Infinity and numbers past 1e308 have no "
                           "value here. Send an ordinary number."), str(item)
        if isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return where, (f"holds a lone surrogate ({item[exc.start]!r}) at character {exc.start + 1}, which "
                               "is not a character. Send valid UTF-8 text (in JSON, a \\ud83d escape must be "
                               "followed by its low half, e.g. \\ud83d\\ude00)."), \
                    item[:200].encode("utf-8", "backslashreplace").decode("ascii", "replace")
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not key.isascii():
                    stack.append((where, key))  # a key is text too; reported where its object is
                stack.append(((*where, key), child))
        elif isinstance(item, list | tuple):
            stack.extend(((*where, i), child) for i, child in enumerate(item))
    return None


def refuse_unsafe_json(value: Any, what: str = "The request") -> None:
    """For routes taking a plain dict body: a RequestError naming the field, as `Lenient` payloads answer."""
    problem = unsafe_json(value)
    if problem is not None:
        where, message, _ = problem
        name = ".".join(str(part).encode("ascii", "backslashreplace").decode() for part in where) or what
        raise RequestError(f"{name} {message}")


MAX_BODY_BYTES = 64 * 2**20  # a request's body, pictures in base64 included: 48 MB of PNG/JPEG/WebP files


def _error_safe(errors: Sequence[Any]) -> list[Any]:
    """Validation errors whose `input` JSON can hold (FastAPI's answer quotes it)."""
    safe = []
    for error in errors:
        if isinstance(error, dict) and unsafe_json(error.get("input")) is not None:
            error = {**error, "input": repr(error["input"])[:200].encode("ascii", "backslashreplace").decode()}
        safe.append(error)
    return safe


class BoundedRoute(APIRoute):
    """Our routes: the body is bounded to `max_body_bytes`, over it the answer is a 413 that says the limit
    (FastAPI's own `max_body_size` answers a bare "Content Too Large"); validation errors quoting what JSON
    cannot hold (NaN, a lone surrogate) are answered, not a 500."""

    max_body_bytes = MAX_BODY_BYTES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        def too_large(size: str) -> HTTPException:
            return HTTPException(413, f"The request body is {size}, over the limit of {limit / 2**20:g} MB. Send "
                                      "fewer or smaller pictures (JPEG or WebP files are smaller than PNG).")

        async def bounded(request: Request) -> Response:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:  # refused before a byte is read
                raise too_large(f"{int(length) / 2**20:.1f} MB")
            received = 0

            async def receive() -> Any:  # a body sent in chunks, without a length, is counted as it comes
                nonlocal received
                message = await request.receive()
                if message.get("type") == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise too_large("larger")
                return message

            try:
                return await handler(Request(request.scope, receive))
            except RequestValidationError as exc:
                raise RequestValidationError(_error_safe(exc.errors()), body=None) from None

        return bounded


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="wrap")
    @classmethod
    def _json_safe(cls, data: Any, handler: Any) -> Any:
        problem = unsafe_json(data)
        if problem is not None:
            where, message, shown = problem
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("unsafe_json", "{message}", {"message": message}), loc=where, input=shown)])
        return handler(data)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class GenerationPayload(Lenient):
    """The fields A1111's txt2img and img2img payloads share. Fields we don't implement are accepted and echoed."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: Any = None
    seed: Int = -1
    subseed: Int = -1
    subseed_strength: Float = 0.0
    seed_resize_from_h: Any = -1
    seed_resize_from_w: Any = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: Int = 1
    n_iter: Int = 1
    steps: Int = 50
    cfg_scale: Float = 7.0
    distilled_cfg_scale: Any = None
    # Ours (issue 16): DeepCache's interval for SD 1.x/2.x/SDXL (0 = off; 2-10: the deep UNet runs one step in N).
    deepcache_interval: Any = 0
    # Ours (issue 16): one of diffusers' step caches for Flux-class transformers ("FirstBlockCache", "TaylorSeer",
    # "MagCache"; empty = off).
    step_cache: Any = ""
    width: Int = 512
    height: Int = 512
    restore_faces: Any = None
    tiling: Any = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: Any = None
    s_min_uncond: Any = None
    s_churn: Any = None
    s_tmax: Any = None
    s_tmin: Any = None
    s_noise: Any = None
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: Any = None
    refiner_switch_at: Any = None
    disable_extra_networks: bool = False
    comments: Any = None
    force_task_id: str | None = None
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None
    # Ours: [{"prompt", "box": [x0, y0, x1, y1] (fractions) or "mask": base64 PNG, "weight"}]; `prompt` is the base.
    regions: Any = None


class Txt2ImgPayload(GenerationPayload):
    """A1111's StableDiffusionTxt2ImgProcessingAPI."""

    denoising_strength: Any = None
    enable_hr: bool = False
    firstphase_width: Any = 0
    firstphase_height: Any = 0
    hr_scale: Any = 2.0
    hr_upscaler: Any = None
    hr_second_pass_steps: Any = 0
    hr_resize_x: Any = 0
    hr_resize_y: Any = 0
    hr_checkpoint_name: Any = None
    hr_sampler_name: Any = None
    hr_scheduler: Any = None
    hr_prompt: Any = ""
    hr_negative_prompt: Any = ""
    hr_cfg: Any = None  # newer A1111/Forge: the second pass's CFG scale (absent = the first pass's)


class Img2ImgPayload(GenerationPayload):
    """A1111's StableDiffusionImg2ImgProcessingAPI, with its defaults (which differ from its UI's: the API
    inpaints "only masked" with no padding and fills the masked area unless told otherwise)."""

    init_images: list[str] = Field(default_factory=list)  # base64, bare or data: URIs
    resize_mode: Int = 0
    denoising_strength: Float = 0.75
    image_cfg_scale: Any = None
    mask: str | None = None  # base64; white = repaint (or, with transparency, opaque = repaint)
    mask_blur_x: Int = 4
    mask_blur_y: Int = 4
    mask_blur: Int | None = None  # sets both x and y, as in A1111
    mask_round: bool = True
    inpainting_fill: Int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: Int = 0
    inpainting_mask_invert: Int = 0
    initial_noise_multiplier: Any = None
    latent_mask: Any = None
    firstpass_image: Any = None
    include_init_images: bool = False


class ImageResponse(BaseModel):
    images: list[str] | None = None
    parameters: dict[str, Any]
    info: str


class PngInfoPayload(Lenient):
    image: str = ""


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)


class ProgressState(BaseModel):
    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: ProgressState
    current_image: str | None = None
    textinfo: str | None = None
    # Ours, beyond A1111: where the caller's job stands in the queue (0 = running or none).
    queue_position: int = 0


class SdModel(BaseModel):
    title: str
    model_name: str
    hash: str | None = None
    sha256: str | None = None
    filename: str
    config: str | None = None


class SdVae(BaseModel):
    model_name: str
    filename: str


class Sampler(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class Scheduler(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float = -1
    need_inner_model: bool = False


class DetectedMapOut(BaseModel):
    unit: int  # index among the request's enabled ControlNet units
    module: str  # the preprocessor
    image: str  # base64 PNG


class JobSummary(BaseModel):
    id: str
    owner: str
    status: str
    progress: float
    position: int
    created: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    images: list[str] | None = None
    info: str | None = None
    worker: str | None = None  # the Ray worker that drew it (None: this process, or not run yet)
    # ControlNet maps apart from `images`: here images[i] always pairs with the i-th picture's infotext.
    detected_maps: list[DetectedMapOut] | None = None
    # The memory policy the job ran under, why, fp8 weights, and its peak memory (engine/placement.py).
    memory: dict[str, Any] | None = None
