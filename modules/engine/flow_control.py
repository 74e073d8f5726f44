"""ControlNet units on Flux.1 and SD 3.x: diffusers-format ControlNets (FluxControlNetModel, SD3ControlNetModel,
Flux union models) through diffusers' ControlNet pipelines, derived from the loaded checkpoint with `from_pipe`.

SD's units wrap the UNet (controlnet/apply.py); these transformers take their ControlNet inside the pipeline's own
loop, so a unit's settings map onto the pipeline's arguments: weight -> controlnet_conditioning_scale, guidance
start/end -> control_guidance_start/end, several units -> a MultiControlNet. The control map is made as for SD
(the unit's preprocessor, resolution and resize mode). What these pipelines cannot do (IP-Adapter units, control
modes other than Balanced, inpaint, img2img and the hires fix's second pass on SD 3.x) is refused before queueing,
with the reason.

With the hires fix, units act in the passes their Hires-Fix Option names, as on SD (engine/hires.py): the first pass
through the txt2img ControlNet pipeline, the second through Flux's ControlNet img2img pipeline with each unit's map
made again at the hires size, as sd-webui-controlnet does in its hires pass.

Flux.1 Canny/Depth dev are not ControlNets but checkpoints (FluxControlPipeline) whose transformer takes the
control picture's latents beside the noisy ones. They run as a checkpoint; their control picture comes from one
ControlNet unit with no model (its picture and preprocessor make the map, as for any unit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.core.requests import CONTROL_HR_OPTIONS, CONTROL_MODES, GenerationRequest, RequestError
from modules.core.results import DetectedMap
from modules.engine.controlnet.apply import ActiveControl, control_map
from modules.engine.controlnet.apply import prepare as prepare_units
from modules.engine.controlnet.preprocessors import PreprocessorRegistry, is_reference_module
from modules.engine.models import flow_families
from modules.engine.models.source import ModelSource
from modules.engine.upscaling import is_latent

# The pipeline family -> (its ControlNet pipeline, the MultiControlNet class for several units).
PIPELINES = {"flux": ("FluxControlNetPipeline", "FluxMultiControlNetModel"),
             "sd3": ("StableDiffusion3ControlNetPipeline", "SD3MultiControlNetModel")}
IMG2IMG = {"flux": "FluxControlNetImg2ImgPipeline"}  # SD 3.x has no ControlNet img2img pipeline in diffusers
# Flux union ControlNets (InstantX's and Shakker-Labs' Union models) take the kind of map as a mode number; the
# unit's preprocessor says which kind its map is.
UNION_MODES = {"canny": 0, "tile": 1, "depth": 2, "blur": 3, "openpose": 4, "gray": 5, "lq": 6}
BOTH, LOW_RES_ONLY, HIGH_RES_ONLY = range(len(CONTROL_HR_OPTIONS))


def takes_control_picture(family: str | None) -> bool:
    """A control checkpoint (Flux.1 Canny/Depth): its unit brings the picture, not a ControlNet model."""
    return any(p.control_map for p in flow_families.family_pipelines(family))


def check(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """Refuse, before queueing, units this flow checkpoint cannot take (the ControlNet's own family is checked
    where the models are known: the runner and the manager)."""
    units = [unit for unit in request.control_units if unit.enabled]
    if takes_control_picture(family):
        _check_control_checkpoint(request, units, label, name)
        return
    if not units:
        return
    if any(is_reference_module(unit.module) for unit in units):
        raise RequestError(f"IP-Adapter units are not available for {name} ({label}) yet: they act on an SD UNet's "
                           "cross-attention. Disable them, or choose an SD 1.x/SDXL checkpoint.")
    if not any(p.family in PIPELINES for p in flow_families.family_pipelines(family)):
        raise RequestError(f"ControlNet units are not available for {name} ({label}): ControlNets run on Flux.1 "
                           "(dev, schnell) and SD 3.x checkpoints. Disable the units, or choose one of those.")
    img2img = request.mode == "img2img" and any(p.family in IMG2IMG for p in flow_families.family_pipelines(family))
    if request.mode != "txt2img" and not img2img:
        where = "txt2img and img2img" if any(p.family in IMG2IMG for p in flow_families.family_pipelines(family)) \
            else "txt2img"
        raise RequestError(f"ControlNet units on {label} work in {where} only yet. Use {where.split()[0]} with the "
                           "unit's picture, or disable the units.")
    if img2img and (request.cfg_scale != 1 or request.negative_prompt.strip()):
        raise RequestError(f"CFG scale and a negative prompt are not available with ControlNet units in img2img on "
                           f"{label}: its ControlNet img2img pipeline has no unguided pass. Set CFG scale to 1 and "
                           "clear the negative prompt (Distilled CFG Scale still steers a dev model).")
    _check_hires(request, units, family, label)
    for n, unit in enumerate(units, start=1):
        if unit.control_mode != 0:
            raise RequestError(f"ControlNet unit {n}: control mode {CONTROL_MODES[unit.control_mode]!r} is not "
                               f"available on {label} (its ControlNet pipeline weighs the unit by its weight "
                               "alone). Choose Balanced and set the weight.")


def _check_hires(request: GenerationRequest, units: list[Any], family: str | None, label: str) -> None:
    """The hires fix's second pass with units runs through the family's ControlNet img2img pipeline: it must have
    one, and that pipeline encodes pictures (no latent upscale) and has no unguided pass (Flux's)."""
    if not request.enable_hr or request.mode != "txt2img" or all(u.hr_option == LOW_RES_ONLY for u in units):
        return
    fix = "set every unit's Hires-Fix Option to 'Low res only' (they steer the first pass)"
    if not any(p.family in IMG2IMG for p in flow_families.family_pipelines(family)):
        raise RequestError(f"ControlNet units on {label} cannot act in the hires fix's second pass: diffusers has no "
                           f"ControlNet img2img pipeline for {label} to run it. {fix[0].upper()}{fix[1:]}, or turn "
                           "the hires fix off.")
    _check_second_pass(request, label, fix)


def _check_second_pass(request: GenerationRequest, label: str, fix: str) -> None:
    if is_latent(request.hr_upscaler):
        raise RequestError(f"Hires upscaler {request.hr_upscaler!r} is not available with ControlNet units in the "
                           f"second pass on {label}: its ControlNet img2img pipeline takes pictures, not latents. "
                           f"Choose a pixel upscaler (Lanczos, or an upscaler model such as ESRGAN), or {fix}.")
    cfg = request.cfg_scale if request.hr_cfg is None else request.hr_cfg
    if cfg != 1 or (request.hr_negative_prompt or request.negative_prompt).strip():
        raise RequestError(f"CFG scale and a negative prompt are not available in the hires fix's second pass with "
                           f"ControlNet units on {label}: its ControlNet img2img pipeline has no unguided pass. Set "
                           f"the (hires) CFG scale to 1 and clear the (hires) negative prompt, or {fix}.")


def _check_control_checkpoint(request: GenerationRequest, units: list[Any], label: str, name: str) -> None:
    def refuse(what: str) -> None:
        raise RequestError(f"{name} ({label}) {what}")

    if len(units) != 1:
        refuse(f"draws from a control picture: enable exactly one ControlNet unit (there are {len(units)}) with "
               "the picture and its preprocessor (canny for a Canny model, a depth preprocessor for a Depth model), "
               "and Model set to None.")
    unit = units[0]
    if unit.model.strip() not in ("", "None", "none"):
        refuse(f"takes its control picture itself, not a ControlNet model: set the unit's Model to None (it names "
               f"{unit.model!r}).")
    if is_reference_module(unit.module):
        refuse("takes a control map, not an IP-Adapter reference: choose its preprocessor (canny or depth).")
    if unit.image is None and request.mode == "txt2img":
        refuse("needs the control picture: put it in the ControlNet unit.")
    if (unit.weight, unit.guidance_start, unit.guidance_end, unit.control_mode) != (1, 0, 1, 0):
        refuse("has the control built into its weights: the unit's weight, guidance start/end and control mode "
               "do not apply. Set them to 1, 0, 1 and Balanced.")
    if request.cfg_scale != 1 or request.negative_prompt.strip():
        refuse("has no unguided pass: set CFG scale to 1, clear the negative prompt, and steer it with Distilled "
               "CFG Scale (10 for Depth, 30 for Canny are its usual values).")
    if request.enable_hr and request.mode == "txt2img":
        if unit.hr_option != BOTH:
            refuse("takes its control picture in every pass (it is part of the transformer's input): set the unit's "
                   "Hires-Fix Option to Both.")
        _check_second_pass(request, label, "turn the hires fix off")


@dataclass
class FlowControls:
    """The job's enabled units, their pipeline (None: the job's own pipeline takes them), and the call's
    arguments."""

    pipe: Any
    kwargs: dict[str, Any]
    infotext: dict[str, Any] = field(default_factory=dict)
    maps: list[DetectedMap] = field(default_factory=list)  # returned after the pictures, as sd-webui-controlnet does
    # (width, height) -> the hires fix's second pass (None: no unit acts there); it puts the second-pass maps first
    at_hires: Callable[[int, int], FlowControls | None] | None = field(default=None, repr=False)

    def call_kwargs(self, pipe: Any, guidance: dict[str, Any]) -> dict[str, Any]:
        """The job's guidance arguments the pipeline takes, with the units' (check() refused what would be lost:
        Flux's ControlNet img2img pipeline has no true CFG, so CFG 1 and no negative prompt reach it)."""
        import inspect

        accepts = inspect.signature(type(pipe).__call__).parameters
        return {**{k: v for k, v in guidance.items() if k in accepts}, **self.kwargs}


def prepare(request: GenerationRequest, models: ModelSource, loaded: Any, spec: flow_families.FlowPipeline,
            preprocessors: PreprocessorRegistry | None) -> FlowControls | None:
    """Load the units' ControlNets (another family's is refused by the manager), make their maps, and derive the
    family's ControlNet pipeline (None when no unit is enabled)."""
    units = tuple(unit for unit in request.control_units if unit.enabled)
    registry = preprocessors or PreprocessorRegistry.default()
    if spec.control_map:
        return _control_picture(request, units[0], registry)
    if not units or request.mode not in ("txt2img", "img2img"):
        return None
    fallback = request.init_images[0] if request.init_images else None  # img2img: a unit without its own picture
    pairs = prepare_units(units, models, loaded.info, registry, request.width, request.height, fallback)
    hires = request.enable_hr and request.mode == "txt2img"  # a unit's Hires-Fix Option means nothing otherwise
    acting = [(unit, active) for unit, active in pairs if not hires or unit.hr_option != HIGH_RES_ONLY]
    cls_name = PIPELINES[spec.family][0] if request.mode == "txt2img" else IMG2IMG[spec.family]
    controls = _controls(loaded, spec.family, cls_name, acting, registry)
    for index, (unit, active) in enumerate(pairs):
        key, value = active.infotext(unit, index, hires=hires)
        controls.infotext[key] = value
        if unit.save_detected_map:
            controls.maps.append(DetectedMap(index, registry.canonical(unit.module), active.image))
    if hires:
        controls.at_hires = lambda width, height: _second_pass(controls, loaded, spec.family, pairs, registry,
                                                               width, height)
    return controls


def _controls(loaded: Any, family: str, cls_name: str, pairs: list[tuple[Any, ActiveControl]],
              registry: PreprocessorRegistry) -> FlowControls:
    """The pipeline of class `cls_name` running these units (none: the job's own pipeline, no control arguments)."""
    import diffusers

    if not pairs:
        return FlowControls(None, {})
    nets = [active.model for _, active in pairs]
    controlnet = nets[0] if len(nets) == 1 else getattr(diffusers, PIPELINES[family][1])(nets)
    pipe = getattr(diffusers, cls_name).from_pipe(loaded.pipe, controlnet=controlnet, dtype=loaded.pipe.dtype)
    pipe.set_progress_bar_config(disable=True)
    return FlowControls(pipe, _kwargs(pairs, len(nets) > 1, registry))


def _second_pass(first: FlowControls, loaded: Any, family: str, pairs: list[tuple[Any, ActiveControl]],
                 registry: PreprocessorRegistry, width: int, height: int) -> FlowControls | None:
    """The units of the hires fix's second pass (Hires-Fix Option Both or High res only) through the ControlNet
    img2img pipeline, their maps made again at the hires size (sharp edges, not the first map enlarged), as SD's
    hires pass does. Every unit's second-pass map is returned before its first, whatever its option, as
    sd-webui-controlnet returns them."""
    at_hr = [(unit, active.at_size(unit, width, height, registry) if unit.hr_option != LOW_RES_ONLY
              or unit.save_detected_map else active) for unit, active in pairs]
    maps = []
    for index, ((unit, hr), (_, active)) in enumerate(zip(at_hr, pairs)):
        if unit.save_detected_map:
            module = registry.canonical(unit.module)
            maps += [DetectedMap(index, module, hr.image), DetectedMap(index, module, active.image)]
    first.maps[:] = maps
    acting = [(unit, hr) for unit, hr in at_hr if unit.hr_option != LOW_RES_ONLY]
    if not acting:
        return None  # the family's plain img2img pipeline runs the second pass
    return _controls(loaded, family, IMG2IMG[family], acting, registry)


def _kwargs(pairs: list[tuple[Any, ActiveControl]], multi: bool, preprocessors: PreprocessorRegistry
            ) -> dict[str, Any]:
    def one_or_all(values: list[Any]) -> Any:
        return values if multi else values[0]

    kwargs: dict[str, Any] = {
        "control_image": one_or_all([active.image for _, active in pairs]),
        "controlnet_conditioning_scale": one_or_all([active.weight for _, active in pairs]),
        "control_guidance_start": one_or_all([active.start for _, active in pairs]),
        "control_guidance_end": one_or_all([active.end for _, active in pairs]),
    }
    modes = [_union_mode(unit, active, preprocessors) for unit, active in pairs]
    if any(mode is not None for mode in modes):
        kwargs["control_mode"] = one_or_all(modes)
    return kwargs


def _union_mode(unit: Any, active: ActiveControl, preprocessors: PreprocessorRegistry) -> int | None:
    """A union ControlNet's mode number from the unit's preprocessor (None for a single-kind ControlNet)."""
    if not getattr(active.model.config, "num_mode", None):
        return None
    module = preprocessors.canonical(unit.module)
    for prefix, mode in UNION_MODES.items():
        if module.startswith(prefix) or (prefix == "depth" and "depth" in module):
            return mode
    raise RequestError(f"ControlNet {active.name} is a union model: it needs to know which kind of map it gets, "
                       f"and the preprocessor {unit.module!r} is none of {', '.join(UNION_MODES)}. Choose one of "
                       "those preprocessors (or the matching map with it).")


def _control_picture(request: GenerationRequest, unit: Any, registry: PreprocessorRegistry) -> FlowControls:
    """A control checkpoint's map from its unit: the unit's picture (or img2img's input picture), preprocessed and
    fitted to the output size as any unit's is; the hires fix's second pass takes it made again at the hires size."""
    picture = unit.image if unit.image is not None else request.init_images[0]
    image = control_map(unit, picture, request.width, request.height, registry)
    module = registry.canonical(unit.module)
    resize = ("Just Resize", "Crop and Resize", "Resize and Fill")[unit.resize_mode]
    params = (f"Module: {module}, Resize Mode: {resize}, Processor Res: {unit.processor_res}, "
              f"Pixel Perfect: {unit.pixel_perfect}")
    controls = FlowControls(None, {"control_image": image}, {"Control picture": params})
    if unit.save_detected_map:
        controls.maps.append(DetectedMap(0, module, image))
    if request.enable_hr and request.mode == "txt2img":
        def at_hires(width: int, height: int) -> FlowControls:
            hr_image = control_map(unit, picture, width, height, registry)
            if unit.save_detected_map:
                controls.maps.insert(0, DetectedMap(0, module, hr_image))
            return FlowControls(None, {"control_image": hr_image})

        controls.at_hires = at_hires
    return controls
