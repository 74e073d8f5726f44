"""Prompt text -> text-encoder embeddings the way A1111 makes them, for diffusers' `prompt_embeds`.

What A1111 does, and so what we do (modules/core/prompts.py reads the syntax):
- the prompt is split into runs of equal attention weight; each run is tokenised on its own, without BOS/EOS;
- tokens fill chunks of 75; `BREAK` starts a new chunk; a chunk that fills up moves the words after its last
  comma (if that comma is within the last 20 tokens) into the next chunk, so a phrase is not cut in two;
- each chunk becomes BOS + 75 tokens + EOS (padded with the tokenizer's pad token after the EOS, as diffusers
  does) and is encoded on its own; chunks are concatenated along the sequence: 77, 154, 231... positions;
- each position's embedding is multiplied by its weight, then the chunk is rescaled so its mean is what it was
  before weighting;
- Clip skip N (A1111 counting, 1 = none): SD 1.x/2.x read hidden_states[-N] through the final layer norm.
  SDXL reads the penultimate layer of both encoders without the final norm, and A1111 ignores Clip skip there.

For a prompt without weights, BREAK or more than 75 tokens this gives exactly diffusers' own `encode_prompt`.

Prompt editing: `encode_schedule` encodes each distinct text of the prompt's step schedule once; generation
passes the first entry to the pipeline and swaps in later ones from its step callback (`callback_tensors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.core import prompts

log = logging.getLogger(__name__)

CHUNK_LENGTH = 75  # tokens per chunk, without BOS and EOS
COMMA_BACKTRACK = 20  # A1111's comma_padding_backtrack


@dataclass
class PromptChunk:
    """Up to CHUNK_LENGTH token ids of the prompt with their attention weights (no BOS/EOS yet)."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def build_chunks(runs: list[tuple[list[int], float]], comma_id: int | None, *, is_break: list[bool] | None = None,
                 chunk_length: int = CHUNK_LENGTH, backtrack: int = COMMA_BACKTRACK) -> list[PromptChunk]:
    """Token runs (ids, weight) -> chunks; `is_break[i]` marks run i as a BREAK. Always at least one chunk."""
    is_break = is_break or [False] * len(runs)
    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    last_comma = -1

    def close() -> None:
        nonlocal chunk, last_comma
        chunks.append(chunk)
        chunk, last_comma = PromptChunk(), -1

    for (tokens, weight), brk in zip(runs, is_break, strict=True):
        if brk:
            close()
            continue
        for token in tokens:
            if token == comma_id:
                last_comma = len(chunk.tokens)
            elif (len(chunk.tokens) == chunk_length and last_comma != -1 and backtrack > 0
                  and len(chunk.tokens) - last_comma <= backtrack):
                # The chunk is full mid-phrase: carry the words after its last comma over to the next chunk.
                cut = last_comma + 1
                carried = PromptChunk(chunk.tokens[cut:], chunk.weights[cut:])
                del chunk.tokens[cut:], chunk.weights[cut:]
                close()
                chunk = carried
            if len(chunk.tokens) == chunk_length:
                close()
            chunk.tokens.append(token)
            chunk.weights.append(weight)
    if chunk.tokens or not chunks:
        close()
    return chunks


def _converter(pipe: Any) -> Callable[[str, Any], str]:
    """diffusers' textual-inversion hook: multi-vector embedding names become their token sequences."""
    convert = getattr(pipe, "maybe_convert_prompt", None)
    if not callable(convert):
        return lambda text, tokenizer: text
    # Embedding tokens are registered lower-case (CLIP lower-cases every prompt) and diffusers finds them by
    # plain string search, so the text is lower-cased first: "EasyNegative" then gets all its vectors.
    return lambda text, tokenizer: convert(text.lower(), tokenizer)


def prompt_chunks(tokenizer: Any, text: str, *, convert: Callable[[str, Any], str] | None = None
                  ) -> list[PromptChunk]:
    """Parse the attention syntax of one (already scheduled, LoRA-free) prompt text and chunk its tokens."""
    parsed = prompts.parse_attention(text)
    is_break = [t == prompts.BREAK and w == prompts.BREAK_WEIGHT for t, w in parsed]
    texts = [t if convert is None else convert(t, tokenizer) for t, _ in parsed]
    ids = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    runs = [([] if brk else list(token_ids), weight)
            for token_ids, (_, weight), brk in zip(ids, parsed, is_break, strict=True)]
    comma_id = tokenizer.get_vocab().get(",</w>")
    return build_chunks(runs, comma_id, is_break=is_break)


def _chunk_ids(tokenizer: Any, chunks: list[PromptChunk]) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 77) token ids: BOS, the chunk, EOS, then padding; and (n, 77) weights (1.0 outside the chunk)."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows, weights = [], []
    for chunk in chunks:
        filler = CHUNK_LENGTH - len(chunk.tokens)
        rows.append([bos, *chunk.tokens, eos] + [pad] * filler)
        weights.append([1.0, *chunk.weights, 1.0] + [1.0] * filler)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(weights, dtype=torch.float32)


def apply_weights(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A1111's emphasis: scale each position by its weight, then restore each chunk's original mean."""
    if bool((weights == 1.0).all()):
        return z
    z32 = z.float()
    original = z32.mean(dim=(1, 2), keepdim=True)
    scaled = z32 * weights.to(z.device)[..., None]
    restored = scaled * (original / scaled.mean(dim=(1, 2), keepdim=True))
    return restored.to(z.dtype)


def _hidden_layer(hidden_states: tuple[torch.Tensor, ...], back: int) -> torch.Tensor:
    if back > len(hidden_states):
        log.warning("Clip skip %d is deeper than this text encoder (%d layers); using its first layer.",
                    back, len(hidden_states) - 1)
        back = len(hidden_states)
    return hidden_states[-back]


@torch.no_grad()
def _encode_sd(pipe: Any, chunk_lists: list[list[PromptChunk]], clip_skip: int) -> list[torch.Tensor]:
    """Each prompt's chunks (all lists the same length) -> (1, 77 * chunks, width) each, in one encoder call."""
    encoder = pipe.text_encoder
    ids, weights = _chunk_ids(pipe.tokenizer, [c for chunks in chunk_lists for c in chunks])
    out = encoder(ids.to(encoder.device), output_hidden_states=clip_skip > 1)
    if clip_skip > 1:
        # transformers 5's CLIPTextModel holds final_layer_norm itself (4.x had it under .text_model)
        final_norm = getattr(encoder, "text_model", encoder).final_layer_norm
        z = final_norm(_hidden_layer(out.hidden_states, clip_skip))
    else:
        z = out.last_hidden_state
    z = apply_weights(z, weights)
    per_prompt = len(chunk_lists[0])
    return [part.reshape(1, -1, part.shape[-1]) for part in z.split(per_prompt)]


def _padded(chunk_lists: list[list[PromptChunk]]) -> list[list[PromptChunk]]:
    """Pad every prompt to the same number of chunks with empty ones (A1111's empty chunk: BOS, EOS, padding)."""
    longest = max(len(chunks) for chunks in chunk_lists)
    return [chunks + [PromptChunk() for _ in range(longest - len(chunks))] for chunks in chunk_lists]


def encode_prompt(pipe: Any, text: str, *, clip_skip: int = 1) -> torch.Tensor:
    """(1, 77 * chunks, width) embeddings of one prompt text for an SD 1.x/2.x pipeline.

    `text` is one entry of a step schedule (no `[from:to:when]` left) with its `<lora:...>` tags removed;
    attention syntax and BREAK are read here. `clip_skip` counts like A1111 (1 = the last layer).
    """
    return encode_texts(pipe, [text], clip_skip=clip_skip)[0]


def encode_texts(pipe: Any, texts: list[str], *, clip_skip: int = 1) -> list[torch.Tensor]:
    """Several prompt texts, padded to the same number of chunks, in one encoder call."""
    convert = _converter(pipe)
    chunk_lists = _padded([prompt_chunks(pipe.tokenizer, t, convert=convert) for t in texts])
    return _encode_sd(pipe, chunk_lists, clip_skip)


def encode_pair(pipe: Any, prompt: str, negative: str, *, clip_skip: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(cond, uncond) for classifier-free guidance, the shorter padded with empty chunks to the same length."""
    cond, uncond = encode_texts(pipe, [prompt, negative], clip_skip=clip_skip)
    return cond, uncond


# ---------------------------------------------------------------------------------------------- SDXL


def _sdxl_encoders(pipe: Any) -> list[tuple[Any, Any]]:
    pairs = [(getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
             (pipe.tokenizer_2, pipe.text_encoder_2)]
    return [(tok, enc) for tok, enc in pairs if tok is not None and enc is not None]  # the refiner has only the 2nd


@torch.no_grad()
def encode_texts_sdxl(pipe: Any, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """SDXL: per text, (embeds (1, 77 * chunks, 768 + 1280), pooled (1, 1280)); all padded to the same chunks.

    Each encoder reads its penultimate layer (no final norm) and gets the weights; the pooled vector is the
    second encoder's projection of the first chunk, unweighted, as in A1111.
    """
    convert = _converter(pipe)
    per_encoder = [[prompt_chunks(tok, t, convert=convert) for t in texts] for tok, _ in _sdxl_encoders(pipe)]
    longest = max(len(chunks) for lists in per_encoder for chunks in lists)
    parts: list[torch.Tensor] = []
    pooled: torch.Tensor | None = None
    for (tokenizer, encoder), lists in zip(_sdxl_encoders(pipe), per_encoder, strict=True):
        padded = [chunks + [PromptChunk() for _ in range(longest - len(chunks))] for chunks in lists]
        ids, weights = _chunk_ids(tokenizer, [c for chunks in padded for c in chunks])
        out = encoder(ids.to(encoder.device), output_hidden_states=True)
        parts.append(apply_weights(out.hidden_states[-2], weights))
        if getattr(out, "text_embeds", None) is not None:
            pooled = out.text_embeds[::longest]  # each text's first chunk
    if pooled is None:
        raise ValueError("This SDXL pipeline's second text encoder gives no pooled output "
                         "(expected a CLIPTextModelWithProjection).")
    z = torch.cat([p.to(parts[-1].dtype) for p in parts], dim=-1)
    return [(part.reshape(1, -1, part.shape[-1]), pooled[i:i + 1])
            for i, part in enumerate(z.split(longest))]


def encode_prompt_sdxl(pipe: Any, text: str, *, clip_skip: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeds, pooled) of one prompt text for an SDXL pipeline. A1111 ignores Clip skip for SDXL (both
    encoders always read their penultimate layer), and so do we: `clip_skip` is accepted for symmetry."""
    del clip_skip
    return encode_texts_sdxl(pipe, [text])[0]


def is_sdxl(pipe: Any) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


# ---------------------------------------------------------------------------------------------- step schedules


@dataclass(frozen=True, eq=False)  # holds tensors: compare entries by their fields
class StepConditioning:
    """The embeddings used while the 0-based sampler step is <= `end_step` (A1111's rule)."""

    end_step: int
    prompt: str
    negative: str
    cond: torch.Tensor  # (1, 77 * chunks, width)
    uncond: torch.Tensor
    pooled: torch.Tensor | None = None  # SDXL only, (1, 1280)
    negative_pooled: torch.Tensor | None = None

    def pipe_kwargs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        """Keyword arguments for `pipe(...)` in place of `prompt=`/`negative_prompt=`."""
        kwargs = {"prompt_embeds": self.cond.repeat(batch_size, 1, 1),
                  "negative_prompt_embeds": self.uncond.repeat(batch_size, 1, 1)}
        if self.pooled is not None and self.negative_pooled is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled.repeat(batch_size, 1)
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled.repeat(batch_size, 1)
        return kwargs

    def callback_tensors(self, batch_size: int, guidance: bool) -> dict[str, torch.Tensor]:
        """What a `callback_on_step_end` returns to switch the pipeline to these embeddings for the next step.

        diffusers concatenates [uncond, cond] before its loop when guidance is on, so that is what it expects
        back as `prompt_embeds` (and SDXL's pooled vectors as `add_text_embeds`). Ask the pipeline for
        `callback_on_step_end_tensor_inputs=["prompt_embeds"]` (plus "add_text_embeds" for SDXL).
        """
        kwargs = self.pipe_kwargs(batch_size)
        out = {"prompt_embeds": kwargs["prompt_embeds"]}
        if guidance:
            out["prompt_embeds"] = torch.cat([kwargs["negative_prompt_embeds"], kwargs["prompt_embeds"]])
        if "pooled_prompt_embeds" in kwargs:
            out["add_text_embeds"] = kwargs["pooled_prompt_embeds"]
            if guidance:
                out["add_text_embeds"] = torch.cat([kwargs["negative_pooled_prompt_embeds"],
                                                    kwargs["pooled_prompt_embeds"]])
        return out


def encode_schedule(pipe: Any, prompt: str, negative: str, steps: int, *, clip_skip: int = 1,
                    decimal_is_fraction: bool = False) -> list[StepConditioning]:
    """Both prompts' step schedules, encoded: one entry per span of steps, ending at `steps`.

    `<lora:...>` tags are dropped from the text (apply them to the model before calling this, so the
    text-encoder LoRA is in effect). Each distinct text is encoded once; every tensor has the same number of
    chunks, so the pipeline can switch between them mid-run.
    """
    def schedule(text: str) -> list[tuple[int, str]]:
        return prompts.schedules(prompts.extract_loras(text)[0], steps, decimal_is_fraction=decimal_is_fraction)

    positive, negative_schedule = schedule(prompt), schedule(negative)
    ends = sorted({end for end, _ in positive} | {end for end, _ in negative_schedule})
    pairs = [(end, prompts.prompt_at_step(positive, end), prompts.prompt_at_step(negative_schedule, end))
             for end in ends]
    # Neighbouring spans with the same texts (an edit in one prompt only) stay one entry.
    merged: list[tuple[int, str, str]] = []
    for end, p, n in pairs:
        if merged and merged[-1][1:] == (p, n):
            merged[-1] = (end, p, n)
        else:
            merged.append((end, p, n))
    texts = sorted({p for _, p, _ in merged} | {n for _, _, n in merged})
    if is_sdxl(pipe):
        encoded = dict(zip(texts, encode_texts_sdxl(pipe, texts), strict=True))
        zeros = {n: (torch.zeros_like(encoded[n][0]), torch.zeros_like(encoded[n][1])) for n in texts if n == ""}
        # A1111 gives SDXL an all-zero negative conditioning when the negative prompt is empty.
        return [StepConditioning(end, p, n, encoded[p][0], zeros.get(n, encoded[n])[0],
                                 encoded[p][1], zeros.get(n, encoded[n])[1]) for end, p, n in merged]
    encoded_sd = dict(zip(texts, encode_texts(pipe, texts, clip_skip=clip_skip), strict=True))
    return [StepConditioning(end, p, n, encoded_sd[p], encoded_sd[n]) for end, p, n in merged]


def conditioning_at(schedule: list[StepConditioning], step: int) -> StepConditioning:
    """The entry for 0-based sampler step `step`: the first whose end_step >= step (A1111's lookup)."""
    for entry in schedule:
        if step <= entry.end_step:
            return entry
    return schedule[-1]
