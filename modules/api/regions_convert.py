"""The API's regions: our top-level `regions` field ({prompt, box | mask, weight}, a mask as a base64 PNG) and the
Regional Prompter extension's `alwayson_scripts["regional prompter"]`, as the request's regions. The request's
own prompt is the base shared by all regions."""

from __future__ import annotations

from typing import Any

from modules.api.images import decode_image
from modules.core.regional_prompter import from_script_args
from modules.core.regions import RP_SCRIPT, RegionError, encode_mask, from_items, grid_for
from modules.core.requests import Limits, RequestError

MASK_TEXT_PREFIXES = tuple(f"{n}x" for n in range(1, 10))


def _items(regions: Any, width: int, height: int, limits: Limits) -> list[Any]:
    """The payload's items with each base64 mask turned into the mask text of the picture's grid."""
    if not isinstance(regions, list):
        raise RequestError('regions must be a list of {"prompt": ..., "box": [x0, y0, x1, y1] or "mask": <base64 '
                           'PNG>, "weight": ...}.')
    if len(regions) > limits.max_input_images:  # each mask is a picture held while the job waits
        raise RequestError(f"regions has {len(regions)} entries; at most {limits.max_input_images} are allowed.")
    items = []
    for n, item in enumerate(regions, start=1):
        mask = item.get("mask") if isinstance(item, dict) else None
        if isinstance(mask, str) and not (mask.startswith(MASK_TEXT_PREFIXES) and ":" in mask[:10]):
            # White (or, with transparency, opaque) = the region, as A1111's inpaint masks.
            picture = decode_image(mask, f"Region {n}'s mask", limits)
            item = {**item, "mask": encode_mask(picture, grid_for(width, height))}
        items.append(item)
    return items


def region_fields(payload: Any, fields: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """{"regions": ...} from the payload (plus the base prompt and `extra` without the extension's args when
    Regional Prompter's shape was sent); {} when it has none."""
    extra = fields.get("extra", {})
    script = extra.get(RP_SCRIPT)
    sent = getattr(payload, "regions", None)
    out: dict[str, Any] = {}
    try:
        if script is not None:
            out["extra"] = {k: v for k, v in extra.items() if k != RP_SCRIPT}
            converted = from_script_args(script, str(fields.get("prompt", "")), str(fields.get("negative_prompt", "")))
            if converted is not None:
                if sent:
                    raise RequestError('Send regions either as "regions" or as alwayson_scripts["regional prompter"], '
                                       "not both.")
                out.update(prompt=converted.prompt, regions=converted.regions)
        if sent:
            out["regions"] = from_items(_items(sent, int(payload.width), int(payload.height), limits))
    except RegionError as exc:
        raise RequestError(str(exc)) from None
    return out
