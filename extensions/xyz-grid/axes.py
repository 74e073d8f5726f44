"""The axes of an X/Y/Z plot: which request field each one changes, and how its values are written.

Numbers accept lists ("1, 3, 7") and A1111's ranges: "1-5" (every integer), "1-9 (+2)" (a step),
"1-2 [5]" (that many values, evenly spaced). Prompt S/R takes the text to search as its first value and
replaces it by each value in turn (the first cell keeps the prompt as it is).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

RANGE = re.compile(r"^\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*(?:\(\s*([+-]?[\d.]+)\s*\)|\[\s*(\d+)\s*\])?\s*$")
LORA_TAG = re.compile(r"<(lora|lyco):([^:>]+)(?::[^>]*)?>", re.IGNORECASE)
MAX_VALUES = 100


def split_values(text: str) -> list[str]:
    """Comma-separated values; a value with a comma is written in double quotes, as in A1111."""
    rows = list(csv.reader([text or ""], skipinitialspace=True))
    return [v.strip() for v in (rows[0] if rows else []) if v.strip()]


def _expand(value: str, kind: Callable[[str], float]) -> list[float]:
    match = RANGE.match(value)
    if match is None:
        return [kind(value)]
    start, end = kind(match.group(1)), kind(match.group(2))
    if match.group(4):  # [count]
        count = int(match.group(4))
        if count < 1:
            raise ValueError(f"{value!r}: the count in [ ] must be at least 1.")
        if count == 1:
            return [start]
        spaced = [start + (end - start) * i / (count - 1) for i in range(count)]
        return [round(v, 6) if kind is float else round(v) for v in spaced]
    step = kind(match.group(3)) if match.group(3) else (1 if end >= start else -1)
    if step == 0 or (end - start) * step < 0:
        raise ValueError(f"{value!r}: the step {step} never gets from {start} to {end}.")
    out, current = [], start
    while (current <= end + 1e-9) if step > 0 else (current >= end - 1e-9):
        out.append(round(current, 6) if kind is float else current)
        current += step
        if len(out) > MAX_VALUES:
            raise ValueError(f"{value!r} gives more than {MAX_VALUES} values.")
    return out


def numbers(text: str, kind: Callable[[str], Any]) -> list[Any]:
    out: list[Any] = []
    for value in split_values(text):
        try:
            out.extend(_expand(value, kind))
        except ValueError as exc:
            if "step" in str(exc) or "count" in str(exc) or "more than" in str(exc):
                raise
            raise ValueError(f"{value!r} is not a {'number' if kind is float else 'whole number'} "
                             "or a range such as 1-5, 1-9 (+2) or 1-2 [5].") from None
    return out


def _int(text: str) -> int:
    number = float(text)
    if number != int(number):
        raise ValueError(text)
    return int(number)


def _choose(text: str, available: list[str], what: str) -> list[str]:
    folded = {name.casefold(): name for name in available}
    out = []
    for value in split_values(text):
        found = folded.get(value.casefold())
        if found is None:  # A1111 titles carry a [hash]; a name without it still matches
            found = next((n for n in available if n.casefold().startswith(value.casefold() + " [")), None)
        if found is None:
            raise ValueError(f"Unknown {what} {value!r}. Available: {', '.join(available) or 'none'}.")
        out.append(found)
    return out


def set_lora_weights(prompt: str, weight: float) -> str:
    return LORA_TAG.sub(lambda m: f"<{m.group(1)}:{m.group(2)}:{weight:g}>", prompt)


@dataclass(frozen=True)
class Axis:
    label: str
    parse: Callable[[str, Any], list[Any]]  # (values text, script context) -> values
    apply: Callable[[Any, Any], Any]  # (request, value) -> request
    check: Callable[[Any, list[Any]], None] | None = None  # (request, values): raises ValueError


def _check_sr(request: Any, values: list[str]) -> None:
    search = values[0]
    if search not in request.prompt and search not in request.negative_prompt:
        raise ValueError(f"Prompt S/R: {search!r} is not in the prompt or the negative prompt.")


def _check_lora(request: Any, values: list[float]) -> None:
    if not LORA_TAG.search(request.prompt):
        raise ValueError("LoRA weight: the prompt has no <lora:name:weight> tag whose weight to vary.")


def _sr_values(text: str, ctx: Any) -> list[tuple[str, str]]:
    values = split_values(text)
    return [(values[0], v) for v in values] if values else []


def _apply_sr(request: Any, pair: tuple[str, str]) -> Any:
    search, value = pair
    return replace(request, prompt=request.prompt.replace(search, value),
                   negative_prompt=request.negative_prompt.replace(search, value))


AXES: dict[str, Axis] = {axis.label: axis for axis in (
    Axis("Nothing", lambda text, ctx: [None], lambda r, v: r),
    Axis("Seed", lambda text, ctx: numbers(text, _int), lambda r, v: replace(r, seed=v)),
    Axis("Steps", lambda text, ctx: numbers(text, _int), lambda r, v: replace(r, steps=v)),
    Axis("CFG Scale", lambda text, ctx: numbers(text, float), lambda r, v: replace(r, cfg_scale=v)),
    Axis("Sampler", lambda text, ctx: _choose(text, ctx.sampler_names(), "sampler"),
         lambda r, v: replace(r, sampler=v)),
    Axis("Checkpoint", lambda text, ctx: _choose(text, ctx.checkpoint_names(), "checkpoint"),
         lambda r, v: replace(r, checkpoint=v)),
    Axis("Prompt S/R", _sr_values, _apply_sr, lambda r, values: _check_sr(r, [values[0][0]])),
    Axis("LoRA weight", lambda text, ctx: numbers(text, float),
         lambda r, v: replace(r, prompt=set_lora_weights(r.prompt, v)), _check_lora),
    Axis("Width", lambda text, ctx: numbers(text, _int), lambda r, v: replace(r, width=v)),
    Axis("Height", lambda text, ctx: numbers(text, _int), lambda r, v: replace(r, height=v)),
    Axis("Clip skip", lambda text, ctx: numbers(text, _int), lambda r, v: replace(r, clip_skip=v)),
    Axis("Denoising", lambda text, ctx: numbers(text, float), lambda r, v: replace(r, denoising_strength=v)),
)}


def label(axis: Axis, value: Any) -> str:
    if axis.label == "Nothing":
        return ""
    if axis.label == "Prompt S/R":
        return value[1]
    if isinstance(value, float):
        return f"{axis.label}: {value:g}"
    return f"{axis.label}: {value}"


@dataclass(frozen=True)
class PlannedAxis:
    axis: Axis
    values: list[Any]
    text: str

    @property
    def labels(self) -> list[str]:
        return [label(self.axis, v) for v in self.values]


def plan(values: dict[str, Any], request: Any, ctx: Any, max_cells: int) -> list[PlannedAxis]:
    """[x, y, z] with parsed values, checked against the request; raises ValueError saying what to fix."""
    out = []
    for key in ("x", "y", "z"):
        name = str(values.get(f"{key}_type") or "Nothing")
        axis = AXES.get(name)
        if axis is None:
            raise ValueError(f"Unknown {key.upper()} type {name!r}. Choose one of: {', '.join(AXES)}.")
        text = str(values.get(f"{key}_values") or "")
        parsed = axis.parse(text, ctx)
        if not parsed:
            raise ValueError(f"{key.upper()} values are empty: write values for {name}, e.g. 10, 20, 30.")
        if axis.check is not None:
            axis.check(request, parsed)
        out.append(PlannedAxis(axis, parsed, text))
    cells = len(out[0].values) * len(out[1].values) * len(out[2].values)
    if cells > max_cells:
        raise ValueError(f"That plot has {cells} cells, more than the limit of {max_cells}. Use fewer values.")
    return out
