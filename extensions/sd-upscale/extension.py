"""SD upscale: A1111's img2img script that upscales the input with an upscaler, redraws it tile by tile with
img2img at the request's width x height, and blends the tiles back over their overlap.

Values: request.extra["sd-upscale"] = {"overlap": 64, "upscaler_index": "Lanczos" (or its index in the
upscaler list, as A1111's API sends it), "scale_factor": 2.0}; chosen with request.extra["script"] =
"sd-upscale" or the title "SD upscale" (any case). A1111 clients send script_name "sd upscale" and
script_args [_, overlap, upscaler_index, scale_factor], which the API maps onto these names.

As in A1111: batch count is the number of upscaled pictures (seed, seed + 1, ...), batch size how many tiles
are drawn at once; "None" keeps the input's size; each picture's infotext is its first tile's with
"SD upscale overlap" and "SD upscale upscaler" added. Tiles are neither saved nor in History, only the
joined picture is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modules import extension_api as ext

from .tiles import join, plan, split

API_VERSION = 1
NAME = "sd-upscale"
ARGS = ("_info", "overlap", "upscaler_index", "scale_factor")  # A1111's script_args, in its order
DEFAULTS = {"overlap": 64, "upscaler_index": "None", "scale_factor": 2.0}  # A1111's, for what a client omits
MAX_SCALE = 8.0


@dataclass(frozen=True)
class Options:
    overlap: int
    upscaler: str
    scale: float


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("max_side", 8192, label="Longest side an SD upscale may produce, in pixels")

    def check(request: Any, ctx: ext.ScriptContext) -> None:
        prepare(request, api.values(request), ctx, int(api.settings.get("max_side")))

    def run(request: Any, ctx: ext.ScriptContext) -> Any:
        options, grid, notes = prepare(request, api.values(request), ctx, int(api.settings.get("max_side")))
        return upscale(request, options, grid, ctx, notes)

    api.register_script("SD upscale", run, check, args=ARGS, panels=("img2img",))
    api.add_section("SD upscale", build_section, panels=("img2img",))


def _number(values: dict[str, Any], key: str, kind: type) -> Any:
    value = values.get(key, DEFAULTS[key])
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"SD upscale: {key} must be a number, not {value!r}.") from None
    if not math.isfinite(number) or (kind is int and number != int(number)):
        raise ValueError(f"SD upscale: {key} must be a {'whole' if kind is int else 'finite'} number, not {value!r}.")
    return kind(number)


def _upscaler(value: Any, names: list[str]) -> str:
    """By name (any case) or by index into the upscaler list, as A1111's Radio(type="index") sends it."""
    text = str(value).strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool) or text.isdigit():
        index = int(float(text))
        if not 0 <= index < len(names):
            raise ValueError(f"SD upscale: upscaler_index {index} is out of range; this server has {len(names)} "
                             f"upscalers: {', '.join(f'{i} {n}' for i, n in enumerate(names))}.")
        return names[index]
    found = next((n for n in names if n.casefold() == text.casefold()), None)
    if found is None:
        raise ValueError(f"SD upscale: unknown upscaler {text!r}. Choose one of: {', '.join(names)}.")
    return found


def options_of(values: dict[str, Any], names: list[str]) -> Options:
    overlap = _number(values, "overlap", int)
    scale = _number(values, "scale_factor", float)
    if not 0 < scale <= MAX_SCALE:
        raise ValueError(f"SD upscale: scale_factor must be above 0 and at most {MAX_SCALE:g}, but is {scale:g}.")
    return Options(overlap, _upscaler(values.get("upscaler_index", DEFAULTS["upscaler_index"]), names), scale)


def target_size(width: int, height: int, options: Options) -> tuple[int, int]:
    """A1111's upscaler size: each side times the factor, rounded down to a multiple of 8; "None" keeps it."""
    if options.upscaler == "None":
        return width, height
    return int(width * options.scale // 8 * 8), int(height * options.scale // 8 * 8)


def prepare(request: Any, values: dict[str, Any], ctx: ext.ScriptContext, max_side: int) -> tuple[Any, Any, list]:
    """(options, tile grid, notes) for a request, or ValueError saying what to change."""
    if request.mode != "img2img":
        raise ValueError("SD upscale redraws the whole picture: use img2img without a mask (this request is "
                         f"{request.mode}).")
    if not request.init_images:
        raise ValueError("SD upscale needs a picture to upscale (init_images).")
    if any(unit.image is not None for unit in request.control_units):
        raise ValueError("SD upscale draws each tile as its own img2img: a ControlNet unit with its own picture "
                         "would be squeezed into every tile. Leave the unit's picture empty so it uses each tile.")
    options = options_of(values, ctx.upscaler_names())
    width, height = target_size(*request.init_images[0].size, options)
    if max(width, height) > max_side:
        raise ValueError(f"SD upscale would make a {width}x{height} picture; this server allows at most {max_side} "
                         "pixels a side (setting max_side of sd-upscale). Lower the scale factor.")
    grid = plan(width, height, request.width, request.height, options.overlap)
    notes = ["SD upscale uses the first picture of init_images only, as A1111."] if len(request.init_images) > 1 \
        else []
    return options, grid, notes


def _flatten(image: Any) -> Any:
    """Transparent parts onto white (A1111's img2img background colour), as A1111 does before upscaling."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image

        base = Image.new("RGBA", image.size, (255, 255, 255, 255))
        base.alpha_composite(image.convert("RGBA"))
        return base.convert("RGB")
    return image.convert("RGB")


def upscale(request: Any, options: Options, grid: Any, ctx: ext.ScriptContext, notes: list[str]) -> Any:
    """One upscaled picture per batch count; each one's tiles drawn `batch_size` at a time."""
    if ctx.generate is None or ctx.upscale_to is None:
        raise RuntimeError("This host offers no unsaved generation or upscaler to scripts.")
    request = request.with_resolved_seeds()
    source = _flatten(request.init_images[0])
    big = source if options.upscaler == "None" else ctx.upscale_to(source, options.upscaler, grid.width, grid.height)
    work = split(big, grid)
    size = max(1, request.batch_size)
    base = ext.replace(request, batch_count=1, resize_mode=0,
                       extra={k: v for k, v in request.extra.items() if k != ext.SCRIPT_KEY})
    fields = {"SD upscale overlap": options.overlap, "SD upscale upscaler": options.upscaler}
    first, pictures, infotexts, seeds, paths, interrupted = None, [], [], [], [], False
    warnings = list(notes)
    parts = request.batch_count * math.ceil(len(work) / size)
    for n in range(request.batch_count):
        start_seed = request.seed + n
        drawn: list[Any] = []
        info = None
        for i in range(0, len(work), size):
            if interrupted or ctx.interrupted():
                interrupted = True
                break
            chunk = work[i:i + size]
            # As A1111: each batch of tiles starts one seed after the last, its tiles counting on from there.
            part = n * math.ceil(len(work) / size) + i // size
            result = ctx.generate(ext.replace(base, init_images=tuple(chunk), batch_size=len(chunk),
                                              seed=start_seed + i // size), part=(part, parts))
            first = first or result
            info = info or (result.infotexts[0] if result.infotexts else None)
            drawn += result.images[:len(chunk)]
            warnings += [w for w in result.warnings if w not in warnings]
            interrupted = interrupted or result.interrupted
        if info is None:
            break
        # After an interrupt the tiles not drawn keep the upscaled input, so the picture is whole.
        picture = join(drawn + work[len(drawn):], grid)
        holder = ext.replace(first, infotexts=[info])
        ext.add_infotext_fields(holder, fields)
        pictures.append(picture)
        infotexts.append(holder.infotexts[0])
        seeds.append(start_seed)
        path = ctx.save(picture, start_seed, holder.infotexts[0], "images")
        if path:
            paths.append(path)
        if interrupted:
            break
    if first is None:
        raise ValueError("SD upscale was interrupted before any tile was drawn.")
    # No ControlNet maps: sd-webui-controlnet leaves them out of an SD upscale's result.
    return ext.replace(first, request=request, images=pictures, seeds=seeds, subseeds=[request.subseed] * len(seeds),
                       infotexts=infotexts, paths=paths, warnings=warnings, interrupted=interrupted,
                       detected_maps=[])


def build_section(ctx: ext.SectionContext) -> dict:
    """A1111's controls: tile overlap, scale factor and upscaler; the tile size is the panel's width x height."""
    import gradio as gr

    gr.Markdown("Choose **Script: SD upscale** below to use. The picture is enlarged by the scale factor with the "
                "upscaler, then redrawn in tiles of the width x height set above; the tiles are blended over the "
                "overlap. \"None\" redraws it at its own size.")
    names = ctx.upscaler_names() or ["None"]
    default = "Lanczos" if "Lanczos" in names else names[0]
    return {
        "overlap": gr.Slider(0, 256, value=64, step=16, label="Tile overlap", elem_id=f"{ctx.panel}_sd_upscale_overlap"),
        "scale_factor": gr.Slider(1.0, 4.0, value=2.0, step=0.05, label="Scale Factor",
                                  elem_id=f"{ctx.panel}_sd_upscale_scale"),
        "upscaler_index": gr.Radio(names, value=default, label="Upscaler", elem_id=f"{ctx.panel}_sd_upscale_upscaler"),
    }
