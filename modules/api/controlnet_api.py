"""sd-webui-controlnet's API: units in `alwayson_scripts.controlnet.args`, and its /controlnet/* routes.

Clients (Photoshop/Krita/Blender plugins, bots) send units with the extension's field names; older ones use
`input_image`, `guessmode` and the legacy resize names, which are accepted too. Nothing here runs a model:
units become `ControlUnit`s on the request, and the core does the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends

from modules.api.auth import Caller
from modules.api.images import decode_image, encode_image
from modules.api.schemas import BoundedRoute, refuse_unsafe_json
from modules.core.requests import ControlUnit, RequestError
from modules.core.validation import check_picture_budget
from modules.core.validation import check_picture
from modules.engine.controlnet.apply import control_map

if TYPE_CHECKING:
    from modules.service.services import Services

def build_router(services: Services, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["ControlNet (sd-webui-controlnet compatible)"],
                       route_class=BoundedRoute)
    who = Depends(current_caller)

    @router.get("/version")
    def version(caller: Caller = who) -> dict[str, Any]:
        return {"version": 2}

    @router.get("/model_list")
    def model_list(update: bool = True, caller: Caller = who) -> dict[str, Any]:
        if update:  # only the ControlNet folder: clients poll this often
            services.models.refresh_controlnets()
        # IP-Adapters are models of units too (module ip-adapter_*), as sd-webui-controlnet lists them.
        return {"model_list": [i.name for i in services.models.controlnets if not i.error]
                + [i.name for i in services.models.ipadapters if not i.error]}

    @router.get("/module_list")
    def module_list(alias_names: bool = False, caller: Caller = who) -> dict[str, Any]:
        reg = services.preprocessors
        detail = {}
        for name in reg.names():
            pre = reg.get(name)
            sliders = [{"name": "Preprocessor Resolution", "value": 512, "min": 64, "max": 2048}]
            sliders += [{"name": s.label, "value": s.default, "min": s.minimum, "max": s.maximum, "step": s.step}
                        for s in pre.sliders]
            detail[name] = {"model_free": name == "none", "sliders": sliders,
                            "missing_files": reg.missing_files(name)}
        return {"module_list": reg.names(), "module_detail": detail}

    @router.get("/settings")
    def settings(caller: Caller = who) -> dict[str, Any]:
        return {"control_net_unit_count": int(services.ui_settings.get("controlnet_units") or 3)}

    @router.post("/detect")
    def detect(body: dict[str, Any] = Body(...), caller: Caller = who) -> dict[str, Any]:
        refuse_unsafe_json(body)
        module = str(body.get("controlnet_module") or "none")
        images = body.get("controlnet_input_images") or []
        if not images:
            raise RequestError("controlnet_input_images is empty: send at least one picture as base64.")
        if not isinstance(images, list):
            raise RequestError("controlnet_input_images must be a list of pictures as base64.")
        limits = services.processor.limits
        try:
            resolution = int(float(body.get("controlnet_processor_res") or 512))
            thresholds = [None if body.get(k) in (None, -1) else float(body[k])
                          for k in ("controlnet_threshold_a", "controlnet_threshold_b")]
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf, as JSON's 1e999 reads
            sent = ", ".join(f"{k}={repr(body.get(k))[:60]}" for k in ("controlnet_processor_res",
                                                                      "controlnet_threshold_a", "controlnet_threshold_b"))
            raise RequestError(f"controlnet_processor_res and the thresholds must be numbers (finite); got {sent}.") from None
        if not all(t is None or math.isfinite(t) for t in thresholds):
            raise RequestError(f"The thresholds must be finite numbers, but are {thresholds[0]} and {thresholds[1]}.")
        if not 64 <= resolution <= limits.max_size:
            raise RequestError(f"controlnet_processor_res must be between 64 and {limits.max_size}, "
                               f"but is {resolution}.")
        unit = ControlUnit(module=module, processor_res=resolution, threshold_a=thresholds[0],
                           threshold_b=thresholds[1], resize_mode=0)
        if len(images) > limits.max_input_images:  # before decoding any
            raise RequestError(f"controlnet_input_images has {len(images)} pictures; at most "
                               f"{limits.max_input_images} are allowed in one request. Send fewer.")
        # Opened, not decoded: the pixels of all the pictures are checked together first.
        pictures = [decode_image(data, f"Picture {n}", limits, load=False) for n, data in enumerate(images, start=1)]
        check_picture_budget([picture.size for picture in pictures], limits, "controlnet_input_images")
        out = []
        for n, picture in enumerate(pictures, start=1):
            check_picture(f"Picture {n}", picture, limits)
            try:
                mapped = control_map(unit, picture, picture.width, picture.height, services.preprocessors)
            except RuntimeError as exc:  # a missing annotator file or a failing preprocessor: say which
                raise RequestError(str(exc)) from None
            out.append(encode_image(mapped))
        return {"images": out, "info": "Success"}

    return router

