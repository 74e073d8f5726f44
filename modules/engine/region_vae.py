"""The VAE decoder keeps regions apart too: its group normalisations take their statistics within each region
(and within the area outside every region), and its mid-block self-attention does not look from one region into
another, for the job's regions.

Why: a decoder normalises each channel group over the whole picture and attends across all of it, so one
region's colours shift another's. Measured on the demo model's VAE: a red circle and a blue one, encoded apart
and decoded side by side, came out with the red one purple, (150, 125, 147) mean RGB against (186, 113, 70)
decoded alone; with the statistics and the attention kept per region, (192, 118, 70). The convolutions still see
across the border, so no seam is added where regions meet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

Labels = Callable[[int, int, torch.device], "torch.Tensor | None"]  # (h*w,) region number per position, 0 outside


def group_norm(norm: torch.nn.GroupNorm, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`norm` applied to (batch, channels, h, w) with its statistics taken within each label's positions."""
    batch, channels, height, width = x.shape
    groups = x.float().reshape(batch, norm.num_groups, channels // norm.num_groups, height * width)
    out = torch.empty_like(groups)
    for label in labels.unique():
        where = labels == label
        part = groups[..., where]
        mean = part.mean(dim=(2, 3), keepdim=True)
        var = part.var(dim=(2, 3), keepdim=True, unbiased=False)
        out[..., where] = (part - mean) * torch.rsqrt(var + norm.eps)
    out = out.reshape(batch, channels, height, width).to(x.dtype)
    if norm.affine:
        out = out * norm.weight[None, :, None, None] + norm.bias[None, :, None, None]
    return out


class RegionalDecoderAttention:
    """The decoder's mid-block attention processor with per-region normalisation and walls."""

    def __init__(self, original: Any, labels: Labels) -> None:
        self.original = original
        self.labels = labels

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        labels = None if hidden_states.dim() != 4 else self.labels(*hidden_states.shape[-2:], hidden_states.device)
        if labels is None or encoder_hidden_states is not None or attention_mask is not None \
                or attn.spatial_norm is not None:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        batch, channels, height, width = hidden_states.shape
        x = hidden_states if attn.group_norm is None else group_norm(attn.group_norm, hidden_states, labels)
        x = x.reshape(batch, channels, height * width).transpose(1, 2)
        query, key, value = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        heads = attn.heads
        head_dim = key.shape[-1] // heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, -1, heads, head_dim).transpose(1, 2)

        inside = labels[:, None] != 0
        allowed = (labels[:, None] == labels[None, :]) | ~inside | (labels[None, :] == 0)
        out = F.scaled_dot_product_attention(split(query), split(key), split(value), attn_mask=allowed[None, None])
        out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        out = out.transpose(1, 2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


@contextmanager
def regional_decoder(vae: Any, labels: Labels) -> Iterator[None]:
    """`vae.decoder` normalising and attending per region for the `with` block; put back afterwards."""
    decoder = getattr(vae, "decoder", None)
    if decoder is None:
        yield
        return
    attention_norms = {id(m.group_norm) for m in decoder.modules() if getattr(m, "group_norm", None) is not None}
    norms = [m for m in decoder.modules() if isinstance(m, torch.nn.GroupNorm) and id(m) not in attention_norms]

    def regional_forward(norm: torch.nn.GroupNorm) -> Callable[[torch.Tensor], torch.Tensor]:
        plain = type(norm).forward

        def forward(x: torch.Tensor) -> torch.Tensor:
            found = labels(*x.shape[-2:], x.device) if x.dim() == 4 else None
            return plain(norm, x) if found is None else group_norm(norm, x, found)
        return forward

    processors = {}
    for name, module in decoder.named_modules():
        if hasattr(module, "processor") and hasattr(module, "set_processor"):
            processors[module] = module.processor
            module.set_processor(RegionalDecoderAttention(module.processor, labels))
    for norm in norms:
        norm.forward = regional_forward(norm)
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward
        for module, processor in processors.items():
            module.set_processor(processor)
