"""The Regional Prompter extension's API shape, `alwayson_scripts["regional prompter"] = {"args": [...]}`, read
as our regions. Its args are positional, in the order of its `ui()`: active, debug, mode ("Matrix", "Mask",
"Prompt"), Matrix split ("Columns", "Rows", "Random"), mask submode, prompt submode, divide ratios, base ratios,
use base, use common, use negative common, calculation mode ("Attention", "Latent"), options, LoRA negative
text encoder, LoRA negative U-Net, threshold, mask, LoRA stop step, LoRA hires stop step, flip.

The common case is accepted: Matrix mode, Columns or Rows, ratios such as "1,1" or "1,2,1;2,1,1" (2D: each ";"
group starts with its own size), region prompts separated by BREAK / ADDCOL / ADDROW, ADDBASE / ADDCOMM (or the
use base / use common boxes), Attention mode. Everything else is refused with the reason, never half-done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modules.core.regions import Region, RegionError, validate_regions

DEFAULTS: tuple[Any, ...] = (False, False, "Matrix", "Columns", "Mask", "Prompt", "1,1", "0.2", False, False,
                             False, "Attention", [], "0", "0", "0", None, 0, 0, False)
_SEPARATOR = re.compile(r"\s*\b(?:BREAK|ADDCOL|ADDROW)\b\s*")
_COLUMNS = ("columns", "horizontal")  # the extension's old names: "Horizontal" divided left to right
_ROWS = ("rows", "vertical")


@dataclass(frozen=True)
class Converted:
    prompt: str  # the base prompt: the extension's base (ADDBASE) part, or its common part, or ""
    regions: tuple[Region, ...]


def _args(value: Any) -> list[Any]:
    args = value.get("args", []) if isinstance(value, dict) else value
    if not isinstance(args, (list, tuple)):
        raise RegionError('alwayson_scripts["regional prompter"] needs "args": [active, debug, mode, split, ...] in '
                          "the extension's order.")
    return list(args) + list(DEFAULTS[len(args):])


def _refuse_unsupported(args: list[Any], negative: str) -> None:
    mode = str(args[2] or "Matrix")
    if mode not in ("Matrix", "Nope"):
        raise RegionError(f"Regional Prompter's {mode} mode is not supported here: use Matrix mode (Columns or "
                          'Rows), or send `regions` with a "mask" per region (a picture) instead.')
    if str(args[3]).casefold() not in _COLUMNS + _ROWS:
        raise RegionError(f"Regional Prompter's Matrix split {args[3]!r} is not supported: use Columns or Rows.")
    if str(args[11] or "Attention").casefold() != "attention":
        raise RegionError(f"Regional Prompter's {args[11]} calculation mode is not supported: use Attention. A LoRA "
                          "per region works in Attention mode here: put its <lora:...> in that region's prompt.")
    if args[19]:
        raise RegionError("Regional Prompter's 'flip' option is not supported: send the region prompts in order "
                          "(top to bottom, left to right).")
    if str(args[17] or 0) not in ("0", "0.0") or str(args[18] or 0) not in ("0", "0.0"):
        raise RegionError("Regional Prompter's LoRA stop steps are not supported: send 0 (LoRAs act in every step).")
    if _SEPARATOR.search(negative or "") and not args[10]:
        raise RegionError("A negative prompt per region (BREAK in the negative prompt with Regional Prompter) is not "
                          "supported: regions share the negative prompt. Remove the BREAKs from it.")
    if args[10]:
        raise RegionError("Regional Prompter's 'use common negative prompt' is not supported: regions share the "
                          "negative prompt.")


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise RegionError(f"Regional Prompter's {what} {text!r} must be numbers separated by commas.") from None
    if not values or any(v <= 0 for v in values):
        raise RegionError(f"Regional Prompter's {what} {text!r} must be numbers above 0.")
    return values


def _boxes(ratios: str, columns: bool) -> list[tuple[float, float, float, float]]:
    """The Matrix: with Columns the picture is cut into rows (the ";" groups, each starting with its size) and
    each row into columns; with Rows the other way round. Boxes in reading order."""
    groups = [g for g in str(ratios or "1").split(";") if g.strip()] or ["1"]
    if len(groups) == 1:
        mains, subs = [1.0], [_numbers(groups[0], "divide ratio")]
    else:
        parsed = [_numbers(g, "divide ratio") for g in groups]
        mains, subs = [p[0] for p in parsed], [p[1:] or [1.0] for p in parsed]
    boxes = []
    start = 0.0
    for main, sub in zip(mains, subs):
        end = start + main / sum(mains)
        across = 0.0
        for size in sub:
            stop = across + size / sum(sub)
            boxes.append((across, start, stop, end) if columns else (start, across, end, stop))
            across = stop
        start = end
    # Exact edges: the last cut of each direction reaches 1 whatever the rounding.
    return [tuple(min(1.0, round(v, 6)) for v in box) for box in boxes]  # type: ignore[misc]


def _split(prompt: str, use_base: bool, use_common: bool) -> tuple[str, str, list[str]]:
    """(common, base, region prompts), read as the extension reads them: common first, then base."""
    rest, common, base = prompt, "", ""
    if "ADDCOMM" in rest:
        common, rest = rest.split("ADDCOMM", 1)
    elif use_common:
        parts = _SEPARATOR.split(rest, 1)
        common, rest = (parts[0], parts[1]) if len(parts) == 2 else (rest, "")
    if "ADDBASE" in rest:
        base, rest = rest.split("ADDBASE", 1)
    elif use_base:
        parts = _SEPARATOR.split(rest, 1)
        base, rest = (parts[0], parts[1]) if len(parts) == 2 else (rest, "")
    return common.strip(), base.strip(), [p.strip() for p in _SEPARATOR.split(rest)]


def from_script_args(value: Any, prompt: str, negative: str = "") -> Converted | None:
    """The base prompt and regions the extension's args describe, None when it is not active; RegionError
    saying why for what is not supported."""
    args = _args(value)
    if not args[0]:
        return None
    _refuse_unsupported(args, negative)
    use_base = bool(args[8]) or "ADDBASE" in prompt
    use_common = bool(args[9]) or "ADDCOMM" in prompt
    common, base, parts = _split(prompt, use_base, use_common)
    boxes = _boxes(str(args[6]), str(args[3]).casefold() in _COLUMNS)
    if len(parts) != len(boxes):
        raise RegionError(f"Regional Prompter: the divide ratio {args[6]!r} makes {len(boxes)} regions, but the prompt "
                          f"has {len(parts)} region parts (separated by BREAK, ADDCOL or ADDROW"
                          f"{', after the base part' if use_base else ''}). Make them match.")
    weights = [1.0] * len(boxes)
    if use_base:
        ratios = [float(v) for v in _base_ratios(str(args[7]))]
        if len(ratios) == 1:
            ratios *= len(boxes)
        if len(ratios) != len(boxes):
            raise RegionError(f"Regional Prompter: {len(ratios)} base ratios for {len(boxes)} regions; send one, or "
                              "one per region.")
        weights = [1.0 - r for r in ratios]
    prompts = [f"{common}, {part}" if common else part for part in parts]
    regions = validate_regions(tuple(Region(p, w, box) for p, w, box in zip(prompts, weights, boxes)))
    return Converted(base or common, regions)


def _base_ratios(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()] or [0.2]
    except ValueError:
        raise RegionError(f"Regional Prompter's base ratio {text!r} must be numbers separated by commas.") from None
    if any(not 0 <= v < 1 for v in values):
        raise RegionError(f"Regional Prompter's base ratios {text!r} must be at least 0 and below 1 (1 would leave "
                          "the region's prompt nothing).")
    return values
