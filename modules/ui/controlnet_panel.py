"""The ControlNet panel of txt2img and img2img: units with sd-webui-controlnet's controls and names.

Each unit has a layered canvas that is ready to draw on (a white page, its control layer selected) and also
takes an upload, so an artist's scribble goes straight in as the control image; drawing or uploading turns the
unit on, as sd-webui-controlnet does. "Preview" shows the preprocessed map at the size the model will see.
The panel turns its values into `ControlUnit`s on the request; it holds no model state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.core.requests import CONTROL_HR_OPTIONS, CONTROL_MODES, CONTROL_RESIZE_MODES, ControlUnit
from modules.engine.controlnet.apply import control_map
from modules.engine.controlnet.preprocessors import is_reference_module
from modules.engine.imaging import flatten
from modules.ui.canvas import SKETCH_COLORS, white_page
from modules.ui.components.canvas.canvas import LayeredCanvas
from modules.ui.components.canvas.value import CanvasValue
from modules.ui.outputs_view import SHOWN_BUTTONS

if TYPE_CHECKING:
    from modules.service.services import Services

NO_MODEL = "None"
MAX_UNITS = 10


@dataclass
class UnitWidgets:
    index: int
    enabled: Any
    image: Any
    use_input: Any | None  # img2img only: "use the img2img input" as the control picture
    module: Any
    model: Any
    weight: Any
    start: Any
    end: Any
    control_mode: Any
    resize_mode: Any
    pixel_perfect: Any
    processor_res: Any
    threshold_a: Any
    threshold_b: Any
    hr_option: Any
    note: Any
    preview_button: Any
    preview: Any

    def inputs(self) -> list[Any]:
        items = [self.enabled, self.image, self.module, self.model, self.weight, self.start, self.end,
                 self.control_mode, self.resize_mode, self.pixel_perfect, self.processor_res, self.threshold_a,
                 self.threshold_b, self.hr_option]
        return items + ([self.use_input] if self.use_input is not None else [])


@dataclass
class ControlNetPanel:
    units: list[UnitWidgets] = field(default_factory=list)
    model_refresh: Any = None
    accordion: Any = None  # opened by "Send to ControlNet": a picture sent into a closed panel looks lost

    def inputs(self) -> set[Any]:
        return {c for unit in self.units for c in unit.inputs()}

    def ordered(self) -> list[Any]:
        """The unit settings PNG Info / History "Send to txt2img" fill, in the order of `updates_from`."""
        return [c for w in self.units for c in (w.enabled, w.module, w.model, w.weight, w.start, w.end,
                                                 w.control_mode, w.resize_mode, w.pixel_perfect, w.processor_res,
                                                 w.hr_option)]

    def updates_from(self, services: Services, params: dict[str, Any]) -> tuple[list[Any], str]:
        """Updates for `ordered()` from an infotext's `ControlNet N: "Module: ..., Model: ..., ..."` entries
        (sd-webui-controlnet's), and a note: units the infotext does not name are switched off, so the picture's
        settings come back as they were; the pictures themselves are not in an infotext."""
        entries = {int(k.split()[1]): unit_entry(str(v)) for k, v in params.items()
                   if re.fullmatch(r"ControlNet \d+", str(k))}
        updates: list[Any] = []
        notes: list[str] = []
        choices = model_choices(services)
        for w in self.units:
            entry = entries.get(w.index)
            if entry is None:
                updates += [gr.update(value=False)] + [gr.update()] * 10
                continue
            updates += _unit_updates(services, entry, choices, w.index, notes)
        extra = sorted(i for i in entries if i >= len(self.units))
        if extra:
            notes.append(f"ControlNet unit(s) {', '.join(map(str, extra))} of the picture do not fit the "
                         f"{len(self.units)} units here (setting controlnet_units).")
        if entries:
            notes.append("ControlNet settings restored; add the units' pictures again (an infotext does not hold "
                         "them).")
        return updates, "".join(f" {n}" for n in notes)

    def control_units(self, data: dict[Any, Any]) -> tuple[ControlUnit, ...]:
        """The enabled units from a Gradio `inputs=set(...)` dict (component -> value)."""
        out = []
        for w in self.units:
            if not data.get(w.enabled):
                continue
            use_input = bool(w.use_input is not None and data.get(w.use_input))
            out.append(ControlUnit(
                enabled=True, image=None if use_input else drawn_picture(data.get(w.image)),
                module=data.get(w.module) or "none",
                # "None" as sd-webui-controlnet's clients send it: refused at submit unless the checkpoint takes
                # the unit's picture alone (Flux.1 Canny/Depth).
                model=data.get(w.model) or NO_MODEL,
                weight=data.get(w.weight, 1.0), guidance_start=data.get(w.start, 0.0),
                guidance_end=data.get(w.end, 1.0), control_mode=data.get(w.control_mode) or CONTROL_MODES[0],
                resize_mode=data.get(w.resize_mode) or CONTROL_RESIZE_MODES[1],
                pixel_perfect=bool(data.get(w.pixel_perfect)), processor_res=data.get(w.processor_res, 512),
                threshold_a=data.get(w.threshold_a), threshold_b=data.get(w.threshold_b),
                hr_option=data.get(w.hr_option) or CONTROL_HR_OPTIONS[0]))
        return tuple(out)


UNIT_KEYS = ("Module", "Model", "Weight", "Resize Mode", "Processor Res", "Threshold A", "Threshold B",
             "Guidance Start", "Guidance End", "Pixel Perfect", "Control Mode", "Hr Option", "Save Detected Map")


def unit_entry(text: str) -> dict[str, str]:
    """sd-webui-controlnet's unit text ("Module: canny, Model: x [hash], Weight: 1, ...") as a dict. Split only
    before a known key, so a model name with a comma in it stays whole."""
    pattern = "|".join(re.escape(k) for k in UNIT_KEYS)
    parts = re.split(rf"(?:^|, )({pattern}): ", text.strip().strip('"'))
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _unit_updates(services: Services, entry: dict[str, str], choices: list[str], index: int,
                  notes: list[str]) -> list[Any]:
    def number(key: str, low: float, high: float) -> Any:
        try:
            value = float(entry[key])
        except (KeyError, ValueError):
            return gr.update()
        return gr.update(value=value) if low <= value <= high else gr.update()

    def choice(key: str, names: tuple[str, ...]) -> Any:
        return gr.update(value=entry[key]) if entry.get(key) in names else gr.update()

    module = entry.get("Module", "none")
    try:
        module_update = gr.update(value=services.preprocessors.get(module).name)
    except Exception:  # an extension's preprocessor that is not installed here
        module_update = gr.update()
        notes.append(f"Unit {index}: preprocessor {module!r} is not here.")
    model = entry.get("Model", "")
    wanted = model.rsplit(" [", 1)[0] if model.endswith("]") else model
    if wanted in choices:
        model_update = gr.update(choices=choices, value=wanted)
    else:
        model_update = gr.update(choices=choices, value=NO_MODEL)
        notes.append(f"Unit {index}: model {model!r} is not here.")
    pixel = entry.get("Pixel Perfect")
    return [gr.update(value=True), module_update, model_update, number("Weight", 0, 2),
            number("Guidance Start", 0, 1), number("Guidance End", 0, 1), choice("Control Mode", CONTROL_MODES),
            choice("Resize Mode", CONTROL_RESIZE_MODES),
            gr.update(value=pixel == "True") if pixel in ("True", "False") else gr.update(),
            number("Processor Res", 64, 2048), choice("Hr Option", CONTROL_HR_OPTIONS)]


def drawn_picture(value: CanvasValue | Image.Image | None) -> Image.Image | None:
    """The canvas as one RGB picture (its control and paint layers over the upload or the white page); None
    when nothing is on it."""
    if value is None:
        return None
    rgb = flatten(value) if isinstance(value, Image.Image) else value.composite(("control", "paint"))
    low, high = zip(*rgb.getextrema())
    if low == high:  # one flat colour: an untouched canvas
        return None
    return rgb


def turns_on(value: CanvasValue | None) -> Any:
    """A drawing or an upload on a unit's canvas enables the unit (sd-webui-controlnet's behaviour); an empty
    canvas leaves the checkbox as the user set it."""
    return gr.update(value=True) if drawn_picture(value) is not None else gr.update()


def model_choices(services: Services) -> list[str]:
    return ([NO_MODEL] + [i.name for i in services.models.controlnets if not i.error]
            + [i.name for i in services.models.ipadapters if not i.error])  # for the ip-adapter_* modules


def _slider_updates(services: Services, module: str) -> tuple[Any, Any, str]:
    reg = services.preprocessors
    try:
        pre = reg.get(module)
    except Exception as exc:  # an extension's preprocessor vanished: say so, hide the sliders
        return gr.update(visible=False), gr.update(visible=False), str(exc)
    updates = []
    for i in range(2):
        if i < len(pre.sliders):
            s = pre.sliders[i]
            updates.append(gr.update(visible=True, label=s.label, minimum=s.minimum, maximum=s.maximum, step=s.step,
                                     value=s.default))
        else:
            updates.append(gr.update(visible=False, value=None))
    missing = reg.missing_files(pre.name)
    note = (f"⚠️ {pre.name} needs {', '.join(missing)} in models/annotators/ (controlnet-aux's file names)."
            if missing else "")
    if is_reference_module(pre.name):
        note = ("IP-Adapter: the picture is a reference for the look and content. Choose an IP-Adapter model "
                "(models/ipadapter); its CLIP vision encoder comes from models/clip_vision.")
    return updates[0], updates[1], note


def _unit(services: Services, tab: str, index: int, with_input: bool, with_hires: bool) -> UnitWidgets:
    prefix = f"{tab}_controlnet_unit{index}"
    with gr.Row():
        enabled = gr.Checkbox(label="Enable", value=False, elem_id=f"{prefix}_enable")
        use_input = gr.Checkbox(label="Use the img2img input as the control image", value=False,
                                elem_id=f"{prefix}_use_input") if with_input else None
        pixel_perfect = gr.Checkbox(label="Pixel Perfect", value=False, elem_id=f"{prefix}_pixel_perfect")
    with gr.Row():
        image = LayeredCanvas(white_page(), label="Control image: draw, or upload a picture", elem_id=f"{prefix}_image",
                              layers=[("control", "control")], active_layer="control", colors=SKETCH_COLORS,
                              brush_fraction=0.012, canvas_height=360)
        preview = gr.Image(label="Preprocessor preview", interactive=False, format="png", height=360,
                           elem_id=f"{prefix}_preview", buttons=SHOWN_BUTTONS)
    with gr.Row():
        module = gr.Dropdown(services.preprocessors.names(), value="none", label="Preprocessor",
                             elem_id=f"{prefix}_module")
        model = gr.Dropdown(model_choices(services), value=NO_MODEL, label="Model", elem_id=f"{prefix}_model")
        preview_button = gr.Button("💥 Preview", elem_id=f"{prefix}_preview_button", scale=0, min_width=100)
    note = gr.Markdown("", elem_id=f"{prefix}_note")
    with gr.Row():
        weight = gr.Slider(0, 2, value=1.0, step=0.05, label="Control Weight", elem_id=f"{prefix}_weight")
        start = gr.Slider(0, 1, value=0.0, step=0.01, label="Starting Control Step", elem_id=f"{prefix}_start")
        end = gr.Slider(0, 1, value=1.0, step=0.01, label="Ending Control Step", elem_id=f"{prefix}_end")
    with gr.Row():
        processor_res = gr.Slider(64, 2048, value=512, step=8, label="Preprocessor Resolution",
                                  elem_id=f"{prefix}_processor_res")
        threshold_a = gr.Slider(0, 255, value=None, label="Threshold A", visible=False, elem_id=f"{prefix}_threshold_a")
        threshold_b = gr.Slider(0, 255, value=None, label="Threshold B", visible=False, elem_id=f"{prefix}_threshold_b")
    with gr.Row():
        control_mode = gr.Radio(list(CONTROL_MODES), value=CONTROL_MODES[0], label="Control Mode",
                                elem_id=f"{prefix}_control_mode")
        resize_mode = gr.Radio(list(CONTROL_RESIZE_MODES), value=CONTROL_RESIZE_MODES[1], label="Resize Mode",
                               elem_id=f"{prefix}_resize_mode")
    hr_option = gr.Radio(list(CONTROL_HR_OPTIONS), value=CONTROL_HR_OPTIONS[0], label="Hires-Fix Option",
                         info="Which passes of the hires fix this unit acts in", elem_id=f"{prefix}_hr_option",
                         visible=with_hires)
    module.change(lambda m: _slider_updates(services, m), inputs=[module], outputs=[threshold_a, threshold_b, note],
                  queue=False)
    for event in (image.input, image.upload):
        event(turns_on, inputs=[image], outputs=[enabled], queue=False, show_progress="hidden")
    return UnitWidgets(index, enabled, image, use_input, module, model, weight, start, end, control_mode, resize_mode,
                       pixel_perfect, processor_res, threshold_a, threshold_b, hr_option, note, preview_button,
                       preview)


def build(services: Services, tab: str, width: Any, height: Any, *, with_input: bool = False,
          fallback: Any = None) -> ControlNetPanel:
    """The panel inside an accordion. `width`/`height` are the tab's size sliders (the map is previewed at the
    output size); `fallback` is a component holding the img2img input picture for "use the img2img input"."""
    count = max(1, min(MAX_UNITS, int(services.ui_settings.get("controlnet_units") or 3)))
    panel = ControlNetPanel()
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet") as panel.accordion:
        with gr.Row():
            gr.Markdown("Draw or upload a control image (that turns the unit on), pick a preprocessor and a model. "
                        "Several enabled units work together.")
            refresh = gr.Button("🔄 models", elem_id=f"{tab}_controlnet_refresh", scale=0, min_width=100)
        with gr.Tabs():
            for i in range(count):
                with gr.Tab(f"ControlNet Unit {i}", id=f"{tab}_cn_unit{i}"):
                    panel.units.append(_unit(services, tab, i, with_input, with_hires=tab == "txt2img"))
    panel.model_refresh = refresh

    def do_refresh() -> list[Any]:
        services.models.refresh()
        return [gr.update(choices=model_choices(services)) for _ in panel.units]

    refresh.click(do_refresh, outputs=[u.model for u in panel.units], queue=False)
    for unit in panel.units:
        _wire_preview(services, unit, width, height, fallback)
    return panel


def _wire_preview(services: Services, unit: UnitWidgets, width: Any, height: Any, fallback: Any) -> None:
    fields = [unit.image, unit.module, unit.resize_mode, unit.pixel_perfect, unit.processor_res, unit.threshold_a,
              unit.threshold_b, width, height]
    extra = [unit.use_input, fallback] if unit.use_input is not None and fallback is not None else []

    def show(image, module, resize_mode, pixel_perfect, processor_res, threshold_a, threshold_b, w, h, *more):
        picture = drawn_picture(image)
        if extra and more and more[0]:
            picture = drawn_picture(more[1])
        if picture is None:
            raise gr.Error("Draw on the canvas or upload a picture first.")
        control = ControlUnit(module=module, resize_mode=CONTROL_RESIZE_MODES.index(resize_mode),
                              pixel_perfect=bool(pixel_perfect), processor_res=int(processor_res),
                              threshold_a=threshold_a, threshold_b=threshold_b)
        try:
            return control_map(control, picture, int(w), int(h), services.preprocessors)
        except Exception as exc:  # a missing annotator file, a failing preprocessor: shown, never a crash
            raise gr.Error(str(exc)) from None

    unit.preview_button.click(show, inputs=fields + extra, outputs=[unit.preview])
