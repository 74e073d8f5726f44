"""sd-webui-controlnet's API: units in `alwayson_scripts.controlnet.args`, and its /controlnet/* routes.

Clients (Photoshop/Krita/Blender plugins, bots) send units with the extension's field names; older ones use
`input_image`, `guessmode` and the legacy resize names, which are accepted too. Nothing here runs a model:
units become `ControlUnit`s on the request, and the core does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends

from modules.api import convert
from modules.api.auth import Caller
from modules.engine.controlnet.apply import control_map
from modules.core.requests import ControlUnit, RequestError
from modules.core.requests import _check_picture as check_picture

LEGACY_RESIZE = {"scale to fit (inner fit)": 1, "envelope (outer fit)": 2, "inner fit": 1, "outer fit": 2,
                 "resize": 0, "just resize": 0}
UNIT_FIELDS = {"enabled", "image", "input_image", "mask", "module", "model", "weight", "guidance_start",
               "guidance_end", "guidance", "control_mode", "resize_mode", "pixel_perfect", "processor_res",
               "threshold_a", "threshold_b", "guessmode", "lowvram", "low_vram", "is_ui", "input_mode",
               "batch_images", "output_dir", "loopback", "save_detected_map", "hr_option", "effective_region_mask"}


def _image_of(value: Any) -> Any:
    """A unit's picture: base64 (bare or data: URI), or {"image": ..., "mask": ...} as the extension's UI sends."""
    if isinstance(value, dict):
        value = value.get("image")
    if value in (None, ""):
        return None
    return convert.decode_image(str(value))


def _resize_mode(value: Any) -> Any:
    if isinstance(value, str) and value.strip().casefold() in LEGACY_RESIZE:
        return LEGACY_RESIZE[value.strip().casefold()]
    return value


def unit_from_arg(arg: dict[str, Any], index: int, warnings: list[str]) -> ControlUnit:
    unknown = sorted(set(arg) - UNIT_FIELDS)
    if unknown:
        warnings.append(f"ControlNet unit {index}: ignored unknown field(s) {', '.join(unknown)}.")
    control_mode = arg.get("control_mode")
    if control_mode is None:  # the old guess mode is "ControlNet is more important"
        control_mode = 2 if arg.get("guessmode") else 0
    image = _image_of(arg.get("image") or arg.get("input_image"))
    threshold = {k: (None if arg.get(k) in (None, -1) else arg[k]) for k in ("threshold_a", "threshold_b")}
    return ControlUnit(
        enabled=bool(arg.get("enabled", True)), image=image, module=str(arg.get("module") or "none"),
        model=str(arg.get("model") or "").strip() if str(arg.get("model") or "").strip() != "None" else "",
        weight=arg.get("weight", 1.0), guidance_start=arg.get("guidance_start", 0.0),
        guidance_end=arg.get("guidance_end", arg.get("guidance", 1.0)), control_mode=control_mode,
        resize_mode=_resize_mode(arg.get("resize_mode", 1)), pixel_perfect=bool(arg.get("pixel_perfect", False)),
        processor_res=512 if arg.get("processor_res") in (None, -1) else arg["processor_res"],
        hr_option=arg.get("hr_option", 0), **threshold)


def units_from_scripts(alwayson_scripts: dict[str, Any] | None, warnings: list[str]) -> tuple[ControlUnit, ...]:
    scripts = {str(k).lower(): v for k, v in (alwayson_scripts or {}).items()}
    block = scripts.get("controlnet")
    if block is None:
        return ()
    args = block.get("args", []) if isinstance(block, dict) else block
    if not isinstance(args, list):
        raise RequestError("alwayson_scripts.controlnet.args must be a list of units.")
    units = []
    for index, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise RequestError(f"ControlNet unit {index + 1} must be an object with the extension's field names.")
        unit = unit_from_arg(arg, index + 1, warnings)
        if unit.enabled and unit.model:
            units.append(unit)
        elif unit.enabled and unit.module not in ("", "none"):
            warnings.append(f"ControlNet unit {index + 1} has a preprocessor but no model; it was skipped.")
    return tuple(units)


def build_router(services: Any, current_caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["ControlNet (sd-webui-controlnet compatible)"])
    who = Depends(current_caller)

    @router.get("/version")
    def version(caller: Caller = who) -> dict[str, Any]:
        return {"version": 2}

    @router.get("/model_list")
    def model_list(update: bool = True, caller: Caller = who) -> dict[str, Any]:
        if update:  # only the ControlNet folder: clients poll this often
            services.models.refresh_controlnets()
        return {"model_list": [i.name for i in services.models.controlnets if not i.error]}

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
        module = str(body.get("controlnet_module") or "none")
        images = body.get("controlnet_input_images") or []
        if not images:
            raise RequestError("controlnet_input_images is empty: send at least one picture as base64.")
        limits = services.processor.limits
        try:
            resolution = int(float(body.get("controlnet_processor_res") or 512))
            thresholds = [None if body.get(k) in (None, -1) else float(body[k])
                          for k in ("controlnet_threshold_a", "controlnet_threshold_b")]
        except (TypeError, ValueError):
            raise RequestError("controlnet_processor_res and the thresholds must be numbers.") from None
        if not 64 <= resolution <= limits.max_size:
            raise RequestError(f"controlnet_processor_res must be between 64 and {limits.max_size}, "
                               f"but is {resolution}.")
        unit = ControlUnit(module=module, processor_res=resolution, threshold_a=thresholds[0],
                           threshold_b=thresholds[1], resize_mode=0)
        out = []
        for n, data in enumerate(images, start=1):
            picture = convert.decode_image(str(data))
            check_picture(f"Picture {n}", picture, limits)
            try:
                mapped = control_map(unit, picture, picture.width, picture.height, services.preprocessors)
            except RuntimeError as exc:  # a missing annotator file or a failing preprocessor: say which
                raise RequestError(str(exc)) from None
            out.append(convert.encode_image(mapped))
        return {"images": out, "info": "Success"}

    return router

