"""Token grounding: teach the demo UNet's cross-attention where each caption word belongs in the picture.

Why: trained on denoising alone, the v1 base learned colour, shape and size but ignored the position word
entirely (same picture for "on the left" and "on the right"). A word like "left" can only move the object if the
pixels on the left attend to it more than the others do, and plain denoising gives that symmetric start no
first-order push. TokenCompose (Wang et al., 2024) supervises the cross-attention maps with segmentation masks;
our pictures come with exact masks for free, so the object's words (size, colour, shape, position) are pulled onto
the object's pixels and the background colour onto the rest.

The recorder stands in for the cross-attention processors only while training; nothing of it is exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor

from training import shapes


class _Recorder(AttnProcessor):
    """Classic attention that also keeps each call's attention map (batch, pixels, tokens), averaged over heads."""

    def __init__(self, store: list[torch.Tensor]) -> None:
        super().__init__()
        self.store = store

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args, **kwargs):
        plain = (encoder_hidden_states is None or attention_mask is not None or attn.spatial_norm is not None
                 or attn.group_norm is not None or attn.norm_cross or hidden_states.ndim != 3)
        if plain:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(query, key, None)
        self.store.append(probs.view(-1, attn.heads, *probs.shape[1:]).mean(dim=1))
        out = attn.to_out[1](attn.to_out[0](attn.batch_to_head_dim(torch.bmm(probs, value))))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


@contextmanager
def recording(unet: Any) -> Iterator[list[torch.Tensor]]:
    """Record the cross-attention maps of every UNet call inside the block (clear the list between steps)."""
    store: list[torch.Tensor] = []
    original = unet.attn_processors
    unet.set_attn_processor({name: _Recorder(store) if name.endswith("attn2.processor") else processor
                             for name, processor in original.items()})
    try:
        yield store
    finally:
        unet.set_attn_processor(original)


def word_regions(tokenizer: Any, captions: list[str], max_length: int = 77,
                 words: tuple[str, ...] | None = None) -> list[dict[int, bool]]:
    """For each caption, token index -> True (a word about the object) or False (the background's colour).

    A colour right before "background" is the background's ("on a blue background"); every other size, colour,
    shape or position word is the object's. `words` keeps only those words (all of them when None).
    """
    ids_of = {word: tokenizer.convert_tokens_to_ids(word + "</w>") for word in shapes.caption_vocabulary()}
    kept = set(words or ids_of)
    object_words = {ids_of[w] for w in (*shapes.SHAPES, *shapes.OBJECT_COLOURS, *shapes.SIZES, *shapes.POSITIONS)
                    if w in kept}
    background_colours = {ids_of[w] for w in shapes.BACKGROUND_COLOURS if w in kept}
    background = ids_of["background"]
    regions = []
    for ids in tokenizer(captions, max_length=max_length, truncation=True).input_ids:
        region: dict[int, bool] = {}
        for i, token in enumerate(ids):
            if i + 1 < len(ids) and ids[i + 1] == background and token in background_colours:
                region[i] = False
            elif token in object_words:
                region[i] = True
        regions.append(region)
    return regions


def _word_maps(maps: list[torch.Tensor], masks: torch.Tensor,
               regions: list[dict[int, bool]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Per recorded layer: each grounded word's attention over the pixels, and its region's coverage of them,
    both (words, pixels). `maps`: (batch, pixels, tokens) attention; `masks`: (batch, 1, H, W) object in 0..1."""
    pairs = [(b, token, inside) for b, region in enumerate(regions) for token, inside in region.items()]
    if not pairs:
        return
    rows = torch.tensor([b for b, _, _ in pairs])
    tokens = torch.tensor([t for _, t, _ in pairs])
    inside = torch.tensor([i for _, _, i in pairs])
    for probs in maps:
        side = int(round(probs.shape[1] ** 0.5))
        cover = F.adaptive_avg_pool2d(masks, side).flatten(1)[rows]
        yield probs[rows, :, tokens], torch.where(inside[:, None], cover, 1.0 - cover)


def _mean(losses: list[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
    return torch.stack(losses).mean() if losses else masks.new_zeros(())


def grounding_loss(maps: list[torch.Tensor], masks: torch.Tensor, regions: list[dict[int, bool]]) -> torch.Tensor:
    """Mean over layers and grounded words of 1 - (the word's attention inside its region / its attention overall)."""
    return _mean([1.0 - (attention * cover).sum(dim=1) / attention.sum(dim=1).clamp(min=1e-8)
                  for attention, cover in _word_maps(maps, masks, regions)], masks)


def share_loss(maps: list[torch.Tensor], masks: torch.Tensor, regions: list[dict[int, bool]],
               target: float = 1.0) -> torch.Tensor:
    """Mean over layers and grounded words of how far the word's share of its region's attention is below
    `target` (0 once it is reached).

    The ratio in `grounding_loss` says where a word's attention goes, not how much of a pixel's attention the
    word gets: the v1 base gave its position word 0.2%, far too little to move anything. This raises it. (Asked
    of every word at once, the shape and colour words took the share and the position word kept ~0%: the base's
    training asks it of the position word only, see train.py.)
    """
    return _mean([(target - (attention * cover).sum(dim=1) / cover.sum(dim=1).clamp(min=1e-8)).clamp(min=0.0)
                  for attention, cover in _word_maps(maps, masks, regions)], masks)
