"""The "Regions" accordion of the txt2img and img2img tabs: rows of prompt + box + weight, an uploaded colour map
whose colours each get a prompt, or a canvas with one layer per region row to paint, and a preview of the layout
at the picture's size. The tab's prompt is the base shared by all regions. The form reads its values by component
names `rg_*`; PNG Info / History "Send to txt2img" fill it back from a picture's infotext (mask regions come back
as a colour map drawn from their masks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from modules.core.infotext import parse_infotext
from modules.core.regions import (PALETTE, Region, RegionError, colour_mask, colours_of, decode_mask, encode_mask,
                                  grid_for, layout_preview, parse_colour, validate_regions)
from modules.core.request_infotext import request_fields_from_infotext
from modules.ui.components.canvas.canvas import LayeredCanvas
from modules.ui.components.canvas.value import CanvasValue, blank

ROWS = 4
BOXES, COLOUR_MAP, PAINTED = "Boxes", "Colour map", "Painted"
DEFAULT_BOXES = ("0, 0, 0.5, 1", "0.5, 0, 1, 1", "", "")
COLOUR_HELP = ("One line per colour of the map: #rrggbb | prompt, or #rrggbb | weight | prompt. Colours without a "
               "prompt are left to the base prompt.")


@dataclass
class RegionsPanel:
    components: dict[str, Any]  # "rg_enable", "rg_source", "rg_<n>_prompt|box|weight", "rg_colour_map", "rg_colours"
    preview: Any = None

    def ordered(self) -> list[Any]:
        return list(self.components.values())

    def regions_from(self, values: Mapping[str, Any], width: int, height: int) -> tuple[Region, ...]:
        """The regions the form describes (none when off); gr.Error saying what to fix."""
        if not values.get("rg_enable"):
            return ()
        try:
            if values.get("rg_source") == COLOUR_MAP:
                regions = _colour_regions(values.get("rg_colour_map"), values.get("rg_colours") or "", width, height)
            elif values.get("rg_source") == PAINTED:
                regions = _painted_regions(values, width, height)
            else:
                regions = _box_regions(values)
            if not regions:
                raise RegionError("Regions are on but none has a prompt: write one, or turn the regions off.")
            return validate_regions(regions)
        except RegionError as exc:
            raise gr.Error(str(exc)) from None

    def updates_from(self, values: Mapping[str, Any], width: int, height: int) -> list[Any]:
        """Updates for `ordered()` from an infotext's request fields (the regions off when it has none)."""
        regions = tuple(values.get("regions") or ())
        rows = [("", box, 1.0) for box in DEFAULT_BOXES]
        colour_map, colour_lines, source = None, "", BOXES
        if all(r.box is not None for r in regions) and len(regions) <= ROWS:
            rows[:len(regions)] = [(r.prompt, ", ".join(f"{v:g}" for v in r.box or ()), r.weight) for r in regions]
        else:
            source = COLOUR_MAP
            colour_map, colour_lines = colour_map_of(regions, width, height)
        updates = [gr.update(value=bool(regions)), gr.update(value=source)]
        for prompt, box, weight in rows:
            updates += [gr.update(value=prompt), gr.update(value=box), gr.update(value=weight)]
        updates += [gr.update(value=colour_map), gr.update(value=colour_lines)]
        return updates + [gr.update()] * (len(self.components) - len(updates))  # the painted layers stay as drawn


def _box_regions(values: Mapping[str, Any]) -> tuple[Region, ...]:
    regions = []
    for n in range(ROWS):
        prompt = (values.get(f"rg_{n}_prompt") or "").strip()
        if not prompt:
            continue
        text = str(values.get(f"rg_{n}_box") or "")
        try:
            box = tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
        except ValueError:
            raise RegionError(f"Region {n + 1}'s box {text!r} must be four numbers x0, y0, x1, y1 (fractions of "
                              "the picture, e.g. 0, 0, 0.5, 1 for the left half).") from None
        regions.append(Region(prompt, float(values.get(f"rg_{n}_weight") or 0), box))  # type: ignore[arg-type]
    return tuple(regions)


def region_layer(n: int) -> str:
    return f"region-{n + 1}"


def _painted_regions(values: Mapping[str, Any], width: int, height: int) -> tuple[Region, ...]:
    """Row n's prompt and weight with the mask painted on the canvas's layer region-<n+1> (its alpha)."""
    canvas: CanvasValue | None = values.get("rg_canvas")
    if canvas is None:
        raise RegionError("Paint the regions on the canvas first, one layer per region row.")
    if abs(canvas.width / canvas.height - width / height) > 0.01:
        raise RegionError(f"The region canvas is {canvas.width}x{canvas.height} but the picture is {width}x{height}: "
                          "press \"Page at the picture size\" and paint the regions again.")
    regions = []
    for n in range(ROWS):
        prompt = (values.get(f"rg_{n}_prompt") or "").strip()
        if not prompt:
            continue
        layer = canvas.layer(region_layer(n))
        if layer is None or layer.is_empty():
            raise RegionError(f"Region {n + 1} has a prompt but nothing is painted on its layer "
                              f"{region_layer(n)!r}: select that layer and paint its area.")
        weight = float(values.get(f"rg_{n}_weight") or 0)
        regions.append(Region(prompt, weight, None, encode_mask(layer.painted(), grid_for(width, height))))
    return tuple(regions)


def _colour_regions(picture: Image.Image | None, lines: str, width: int, height: int) -> tuple[Region, ...]:
    if picture is None:
        raise RegionError("Upload a colour map first (a PNG with one flat colour per region).")
    regions = []
    for number, line in enumerate(lines.splitlines(), start=1):
        parts = [p.strip() for p in line.split("|")]
        if not line.strip() or len(parts) < 2 or not parts[-1]:
            continue
        weight = parts[1] if len(parts) == 3 else "1"
        try:
            weight_value = float(weight)
        except ValueError:
            raise RegionError(f"Colour line {number}: the weight {weight!r} must be a number.") from None
        colour = parse_colour(parts[0])
        regions.append(Region(parts[-1], weight_value, None, colour_mask(picture, colour, grid_for(width, height))))
    return tuple(regions)


def colour_lines_for(picture: Image.Image | None) -> str:
    """The colour lines of a newly uploaded map, prompts left blank for the user to fill."""
    if picture is None:
        return ""
    try:
        return "\n".join(f"#{r:02x}{g:02x}{b:02x} | " for (r, g, b), _ in colours_of(picture))
    except RegionError as exc:
        raise gr.Error(str(exc)) from None


def colour_map_of(regions: tuple[Region, ...], width: int, height: int) -> tuple[Image.Image | None, str]:
    """A flat colour map (one cell = 8x8 pixels, as masks are kept) and its lines that give back `regions`."""
    if not regions:
        return None, ""
    grid = grid_for(width, height)
    size = (grid[0] * 8, grid[1] * 8)
    canvas = Image.new("RGB", size, (255, 255, 255))
    lines = []
    for n, region in enumerate(regions):
        colour = PALETTE[n % len(PALETTE)]
        inside = Image.new("L", size, 0)
        if region.mask is not None:
            inside = decode_mask(region.mask).resize(size, Image.Resampling.NEAREST)
        elif region.box is not None:
            x0, y0, x1, y1 = region.box
            ImageDraw.Draw(inside).rectangle((x0 * size[0], y0 * size[1], x1 * size[0] - 1, y1 * size[1] - 1), fill=255)
        canvas.paste(Image.new("RGB", size, colour), mask=inside)
        lines.append(f"#{colour[0]:02x}{colour[1]:02x}{colour[2]:02x} | {region.weight:g} | {region.prompt}")
    return canvas, "\n".join(lines)


def build(prefix: str, width: Any, height: Any) -> RegionsPanel:
    """The accordion; `width` and `height` are the tab's size sliders (the preview is drawn at their size)."""
    c: dict[str, Any] = {}
    with gr.Accordion("Regions", open=False, elem_id=f"{prefix}_regions"):
        c["rg_enable"] = gr.Checkbox(False, label="Regions: each area with its own prompt (and <lora:...>); the "
                                     "prompt above is the base shared by all", elem_id=f"{prefix}_rg_enable")
        c["rg_source"] = gr.Radio([BOXES, COLOUR_MAP, PAINTED], value=BOXES, label="Layout",
                                  elem_id=f"{prefix}_rg_source")
        for n in range(ROWS):
            with gr.Row():
                c[f"rg_{n}_prompt"] = gr.Textbox(label=f"Region {n + 1} prompt", scale=3,
                                                 elem_id=f"{prefix}_rg_{n}_prompt")
                c[f"rg_{n}_box"] = gr.Textbox(DEFAULT_BOXES[n], label="Box x0, y0, x1, y1 (0..1)", scale=2,
                                              elem_id=f"{prefix}_rg_{n}_box")
                c[f"rg_{n}_weight"] = gr.Slider(0.05, 1, value=1.0, step=0.05, label="Weight", scale=1,
                                                info="Its prompt's share in its area", elem_id=f"{prefix}_rg_{n}_weight")
        c["rg_colour_map"] = gr.Image(type="pil", label="Colour map (one flat colour per region)", format="png",
                                      elem_id=f"{prefix}_rg_colour_map", visible=False)
        c["rg_colours"] = gr.Textbox(label="Colour prompts", lines=3, info=COLOUR_HELP, elem_id=f"{prefix}_rg_colours",
                                     visible=False)
        # "Painted": one region layer per row; a layer's painted area (its alpha) is that row's mask.
        colours = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in PALETTE[:ROWS]]
        c["rg_canvas"] = LayeredCanvas(blank((512, 512), None), label="Painted regions: one layer per region row",
                                       layers=[(region_layer(n), "region") for n in range(ROWS)],
                                       active_layer=region_layer(0), colors=colours, default_color=colours[0],
                                       brush_fraction=0.06, uploads=False, can_add_layers=False, canvas_height=360,
                                       elem_id=f"{prefix}_rg_canvas", visible=False)
        page = gr.Button("Page at the picture size", elem_id=f"{prefix}_rg_page", size="sm", visible=False)
        show = gr.Button("Preview layout", elem_id=f"{prefix}_rg_show")
        preview = gr.Image(label="Layout", interactive=False, format="png", elem_id=f"{prefix}_rg_preview")
    panel = RegionsPanel(c, preview)
    c["rg_colour_map"].upload(colour_lines_for, inputs=[c["rg_colour_map"]], outputs=[c["rg_colours"]])
    by_layout = {BOXES: [c[f"rg_{n}_box"] for n in range(ROWS)], COLOUR_MAP: [c["rg_colour_map"], c["rg_colours"]],
                 PAINTED: [c["rg_canvas"], page]}

    def shown(source: str) -> list[Any]:
        # a field another layout reads would be ignored here, so it is not shown
        return [gr.update(visible=layout == source) for layout, fields in by_layout.items() for _ in fields]

    # .change, not .input: a layout restored from a picture's infotext shows its own fields too
    c["rg_source"].change(shown, inputs=[c["rg_source"]], outputs=[f for fields in by_layout.values() for f in fields],
                          queue=False)
    page.click(lambda w, h: blank((int(w or 512), int(h or 512)), None), inputs=[width, height],
               outputs=[c["rg_canvas"]], queue=False)
    names = list(c)

    def draw(*values: Any) -> Image.Image:
        form = dict(zip(names, values[:-2]))
        w, h = int(values[-2] or 512), int(values[-1] or 512)
        return layout_preview(panel.regions_from({**form, "rg_enable": True}, w, h), w, h)

    show.click(draw, inputs=[*c.values(), width, height], outputs=[preview])
    return panel


def connect_send(panel: RegionsPanel, button: Any, inputs: list[Any], infotext_of: Callable[[Any, gr.Request], Any]
                 ) -> None:
    """A "Send to txt2img" button (PNG Info, History) also fills this panel from the picture's infotext."""

    def fill(value: Any, request: gr.Request) -> list[Any]:
        text = infotext_of(value, request)
        if not text:
            return [gr.update()] * len(panel.components)
        info = parse_infotext(text)
        values = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
        return panel.updates_from(values, int(values.get("width") or 512), int(values.get("height") or 512))

    button.click(fill, inputs=inputs, outputs=panel.ordered())
