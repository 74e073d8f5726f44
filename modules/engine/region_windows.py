"""Each region drawn in its own window of the latent: after the UNet's pass over the whole picture, the UNet runs
again on the rectangle around each region (its bounding box, snapped to the UNet's coarsest cell) with that
region's prompt, and the region's share of the noise prediction comes from that window (the bounding-box region
control of the MultiDiffusion / Tiled Diffusion extension for A1111, and Regional Prompter's "Latent" idea).

Why besides the cross-attention blend: a UNet decides the layout of the whole picture at once (its convolutions
and deep levels see everything), so masking the cross-attention alone recolours one composition rather than
drawing one subject per region; the small demo model drew one shape across both regions, or a purple one. In its
own window a region's prompt composes its own picture, which is what the artist drew the region for.

The window's corners are multiples of the UNet's coarsest cell (or the picture's edge), so every level of the
window lines up with the same cells of the whole picture: a ControlNet's residuals are cut to the window exactly.
The UNet's class `forward` is called, not the module, so our own hooks do not run again and DeepCache (which
replaces the instance's forward) neither caches nor skips a window.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

Window = tuple[int, int, int, int]  # (top, bottom, left, right) in latent cells, end exclusive
RESIDUAL_KEYS = ("down_block_additional_residuals", "mid_block_additional_residual",
                 "down_intrablock_additional_residuals")


def coarsest_cell(unet: Any) -> int:
    """How many latent cells one cell of the UNet's deepest level spans (8 for SD 1.x/SDXL, 4 for the demo)."""
    return 2 ** (len(unet.down_blocks) - 1)


def window(share: torch.Tensor, cell: int) -> Window | None:
    """The rectangle around the positions `share` (height, width) reaches, its corners snapped outward to
    multiples of `cell` and clamped to the picture; None when the region reaches no position."""
    rows = torch.nonzero(share.amax(1) > 0).flatten()
    cols = torch.nonzero(share.amax(0) > 0).flatten()
    if rows.numel() == 0 or cols.numel() == 0:
        return None
    height, width = share.shape

    def snap(lo: int, hi: int, size: int) -> tuple[int, int]:
        return lo // cell * cell, min(-(-hi // cell) * cell, size)

    top, bottom = snap(int(rows[0]), int(rows[-1]) + 1, height)
    left, right = snap(int(cols[0]), int(cols[-1]) + 1, width)
    return top, bottom, left, right


def _cut(tensor: torch.Tensor, box: Window, latent: tuple[int, int]) -> torch.Tensor:
    """The window of a feature map of any UNet level (its size tells the level)."""
    top, bottom, left, right = box
    height, width = latent
    h, w = tensor.shape[-2:]
    for level in range(8):
        step = 2 ** level
        if -(-height // step) == h and -(-width // step) == w:
            return tensor[..., top // step: -(-bottom // step), left // step: -(-right // step)]
    raise RuntimeError(f"A {h}x{w} residual matches no level of the {height}x{width} latent.")


def _select(value: Any, rows: torch.Tensor, batch: int) -> Any:
    """`value` with only `rows` of its batch: tensors whose first dimension is the batch, in dicts and tuples too."""
    if isinstance(value, torch.Tensor):
        return value[rows] if value.dim() > 0 and value.shape[0] == batch else value
    if isinstance(value, dict):
        return {k: _select(v, rows, batch) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_select(v, rows, batch) for v in value)
    return value


def bind(unet: Any, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The UNet call's arguments by name."""
    call = inspect.signature(type(unet).forward).bind(unet, *args, **kwargs).arguments
    call.pop("self")
    return dict(call)


def supported(call: dict[str, Any]) -> bool:
    """Whether a window can be cut from this call: an attention mask over the prompt's tokens or the whole
    picture would not fit a region's prompt or a window."""
    return call.get("encoder_attention_mask") is None and call.get("attention_mask") is None


def run_window(unet: Any, call: dict[str, Any], box: Window, context: torch.Tensor, prompt_rows: slice,
               mark: Callable[[slice], None]) -> torch.Tensor:
    """The UNet's noise prediction for `box`, with `context` (1, tokens, width) as the prompt of `prompt_rows`
    and the call's own conditioning (the negative prompt) for the other rows. `mark(rows)` tells the attention
    processors which rows of the coming call carry the region's prompt."""
    sample = call["sample"]
    batch, latent = sample.shape[0], tuple(sample.shape[-2:])
    top, bottom, left, right = box
    cut = dict(call, sample=sample[..., top:bottom, left:right], return_dict=False)
    for key in RESIDUAL_KEYS:
        value = cut.get(key)
        if isinstance(value, torch.Tensor):
            cut[key] = _cut(value, box, latent)
        elif value is not None:
            cut[key] = type(value)(_cut(t, box, latent) for t in value)
    own = call["encoder_hidden_states"]
    context = context.to(own.device, own.dtype)
    wanted = torch.arange(batch)[prompt_rows]
    if own.shape[1:] == context.shape[1:]:  # one call: the region's prompt in place of the job's
        cut["encoder_hidden_states"] = own.clone()
        cut["encoder_hidden_states"][prompt_rows] = context.expand(len(wanted), -1, -1)
        mark(prompt_rows)
        return type(unet).forward(unet, **cut)[0]
    # Prompts of different lengths (a long negative prompt) cannot share a batch: one call for each part.
    out = torch.empty_like(cut["sample"][:, : unet.config.out_channels])
    others = torch.tensor([r for r in range(batch) if r not in set(wanted.tolist())], dtype=torch.long)
    for rows, prompt in ((wanted, context.expand(len(wanted), -1, -1)), (others, None)):
        if rows.numel() == 0:
            continue
        part = _select(cut, rows, batch)
        if prompt is not None:
            part["encoder_hidden_states"] = prompt
        mark(slice(0, len(rows)) if prompt is not None else slice(0, 0))
        out[rows] = type(unet).forward(unet, **part)[0]
    return out
