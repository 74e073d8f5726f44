"""The "ADetailer" accordion of the txt2img and img2img tabs: detect and redraw, two units as ADetailer's "1st" and
"2nd" tabs, every field of `DetailerUnit` with ADetailer's labels. The form reads its values by component names
`ad_enable` and `ad_<unit>_<field>`; PNG Info / History "Send to txt2img" fill it back from the infotext."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.core.detailer import BUILTIN_FACE, LABELS, MERGE_MODES, DetailerUnit, suffix
from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.engine.samplers import SCHEDULE_TYPES

if TYPE_CHECKING:
    from modules.service.services import Services

UNITS = 2  # ADetailer shows two tabs by default
SAME_SCHEDULER = "Use same scheduler"
# number fields: (minimum, maximum, step) of the slider
SLIDERS = {"confidence": (0, 1, 0.01), "mask_k_largest": (0, 10, 1), "mask_min_ratio": (0, 1, 0.001),
           "mask_max_ratio": (0, 1, 0.001), "dilate_erode": (-128, 128, 4), "x_offset": (-200, 200, 1),
           "y_offset": (-200, 200, 1), "mask_blur": (0, 64, 1), "denoising_strength": (0, 1, 0.01),
           "inpaint_only_masked_padding": (0, 256, 4), "inpaint_width": (64, 2048, 8),
           "inpaint_height": (64, 2048, 8), "steps": (1, 150, 1), "cfg_scale": (0, 30, 0.5), "clip_skip": (1, 12, 1)}
HELP = {"model": "face_lbp is built in (faces seen from the front); LBP cascade .xml files in models/adetailer are "
                 "listed too",
        "prompt": "Empty: the picture's own prompt. [PROMPT] stands for it. [SEP] gives each region found (largest "
                  "first) its own prompt; [SKIP] alone leaves that region as drawn.",
        "confidence": "Detections scored below are dropped (the built-in detector has no score: 1.0 for each)",
        "dilate_erode": "Pixels: above 0 grows each region, below 0 shrinks it",
        "mask_blur": "The feather of the paste-back: pixels outside it are never changed",
        "denoising_strength": "How much of each region is redrawn"}


def _label(name: str) -> str:
    label = dict(LABELS)[name].removeprefix("ADetailer ")
    return label[0].upper() + label[1:]  # "Use separate CFG scale": keep ADetailer's capitals


def _widget(services: Services, name: str, value: Any, elem_id: str) -> Any:
    label, info = _label(name), HELP.get(name)
    if name == "model":
        return gr.Dropdown(["None", *services.processor.detectors.names()], value=value, label=label, info=info,
                           elem_id=elem_id)
    if name in ("prompt", "negative_prompt"):
        return gr.Textbox(value=value, label=label, info=info, lines=2, elem_id=elem_id)
    if name == "mask_merge_invert":
        return gr.Radio(list(MERGE_MODES), value=value, label=label, elem_id=elem_id)
    if name == "sampler":
        return gr.Dropdown(services.samplers.names(), value=value, label=label, elem_id=elem_id)
    if name == "scheduler":
        return gr.Dropdown([SAME_SCHEDULER, *SCHEDULE_TYPES], value=value, label=label, elem_id=elem_id)
    if isinstance(value, bool):
        return gr.Checkbox(value, label=label, elem_id=elem_id)
    low, high, step = SLIDERS[name]
    return gr.Slider(low, high, value=value, step=step, label=label, info=info, elem_id=elem_id)


@dataclass
class DetailerPanel:
    components: dict[str, Any]  # "ad_enable" and "ad_<unit>_<field>", in the order of `ordered()`
    available: Callable[[], list[str]] = lambda: [BUILTIN_FACE]  # the detection models there are, when asked

    def ordered(self) -> list[Any]:
        return list(self.components.values())

    def units_from(self, values: Mapping[str, Any]) -> tuple[DetailerUnit, ...]:
        """The units the form turns on (none when ADetailer is off or a unit's model is "None")."""
        if not values.get("ad_enable"):
            return ()
        units = []
        for n in range(UNITS):
            unit = DetailerUnit(**{f.name: values[f"ad_{n}_{f.name}"] for f in fields(DetailerUnit)
                                   if f"ad_{n}_{f.name}" in values})
            if unit.model and unit.model != "None":
                units.append(unit)
        return tuple(units)

    def updates_from(self, values: Mapping[str, Any]) -> tuple[list[Any], str]:
        """Updates for `ordered()` from an infotext's request fields: the picture's units, or ADetailer off. A
        detection model that is not here leaves its unit off ("None"), saying so."""
        units = tuple(values.get("detailer") or ())
        available = self.available()
        note = "" if len(units) <= UNITS else (f" The picture has {len(units)} ADetailer units; the first {UNITS} "
                                              "were set.")
        updates = [gr.update(value=bool(units))]
        for n in range(UNITS):
            unit = units[n] if n < len(units) else DetailerUnit(model=BUILTIN_FACE if n == 0 else "None")
            if unit.model not in available and unit.model != "None":
                note += f" ADetailer model {unit.model!r} is not here (available: {', '.join(available)}); unit " \
                        f"{n + 1} was left off."
                unit = DetailerUnit(**{**unit.__dict__, "model": "None"})
            updates += [gr.update(value=getattr(unit, f.name)) for f in fields(DetailerUnit)]
        return updates, note


def build(services: Services, prefix: str) -> DetailerPanel:
    c: dict[str, Any] = {}
    with gr.Accordion("ADetailer", open=False, elem_id=f"{prefix}_adetailer"):
        c["ad_enable"] = gr.Checkbox(False, label="Enable ADetailer: find faces and redraw each one",
                                     elem_id=f"{prefix}_ad_enable")
        with gr.Tabs():
            for n in range(UNITS):
                with gr.Tab(f"ADetailer{suffix(n) or ' 1st'}"):
                    default = DetailerUnit(model=BUILTIN_FACE if n == 0 else "None")
                    for f in fields(DetailerUnit):
                        c[f"ad_{n}_{f.name}"] = _widget(services, f.name, getattr(default, f.name),
                                                        f"{prefix}_ad_{n}_{f.name}")
    return DetailerPanel(c, services.processor.detectors.names)


def updates_for_infotext(panel: DetailerPanel, services: Services, text: str | None) -> list[Any]:
    """The panel's updates for a picture's infotext; a note (a toast) when a unit's model is not here."""
    if not text:
        return [gr.update()] * len(panel.components)
    info = parse_infotext(text)
    updates, note = panel.updates_from(request_fields_from_infotext(info.prompt, info.negative_prompt,
                                                                              info.params))
    if note:
        gr.Warning(note.strip())
    return updates


def connect_send(panel: DetailerPanel, services: Services, button: Any, inputs: list[Any],
                 infotext_of: Callable[[Any, gr.Request], str | None]) -> None:
    """A "Send to txt2img" button (PNG Info, History) also fills this panel: `infotext_of(input value, request)`
    gives the picture's infotext. Kept as its own handler so the senders' own updates stay as they are."""

    def fill(value: Any, request: gr.Request) -> list[Any]:
        return updates_for_infotext(panel, services, infotext_of(value, request))

    button.click(fill, inputs=inputs, outputs=panel.ordered())
