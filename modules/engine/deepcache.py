"""DeepCache for SD 1.x/2.x/SDXL UNets: the deep part of the UNet runs on one step of every N; the steps between
reuse its output and run only the shallowest level (the input convolution, the first down block, the last up
block). Lossy and opt-in (`deepcache_interval`), named in the infotext ("DeepCache interval: 3").

Why it works (Ma et al., "DeepCache", 2023): from one step to the next the high-level features that the deep
blocks compute change little, while the shallow skip connection carries the details that do change. The
feature cached is the input of the last up block at a full step: everything the deep path contributes. A cached
step then costs the shallow level only (about a fifth of an SD 1.5 UNet at 512 px).

The count restarts whenever a new sampling run begins (the timestep goes up: a hires pass, the next batch) or
the latents change shape, so every run starts with a full step. Inputs the shallow path cannot honour (T2I
adapters, attention masks, GLIGEN) make that evaluation a full one. diffusers' own caches (FirstBlockCache,
TaylorSeer...) are for transformer models; the UNet needs this one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)


class DeepCacheError(ValueError):
    """DeepCache asked of a model it cannot serve; the message says what to do."""


@dataclass
class DeepCacheState:
    interval: int
    full: int = 0  # evaluations that ran the whole UNet
    cached: int = 0  # evaluations that ran the shallow level only
    _feature: torch.Tensor | None = None
    _shape: tuple[int, ...] = ()
    _since_full: int = 0
    _last_t: float | None = None

    def wants_full(self, sample: torch.Tensor, timestep: Any) -> bool:
        t = float(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
        restarted = self._last_t is not None and t > self._last_t  # a new run: its first step is full
        self._last_t = t
        if self._feature is None or restarted or tuple(sample.shape) != self._shape:
            return True
        return self._since_full >= self.interval - 1


def supports(unet: Any) -> bool:
    from diffusers import UNet2DConditionModel

    return isinstance(unet, UNet2DConditionModel)


def _shallow_ok(unet: Any, kwargs: dict[str, Any]) -> bool:
    """Whether the shallow path can honour this evaluation's inputs exactly as the full forward would."""
    if kwargs.get("attention_mask") is not None or kwargs.get("down_intrablock_additional_residuals") is not None:
        return False
    if unet.config.addition_embed_type == "image_hint" or unet.config.center_input_sample:
        return False
    extra = kwargs.get("cross_attention_kwargs") or {}
    controlnet = kwargs.get("down_block_additional_residuals") is not None
    # A T2I adapter passed the old way (down residuals without a mid one) is an adapter, not a ControlNet.
    return "gligen" not in extra and not (controlnet and kwargs.get("mid_block_additional_residual") is None)


def _block_kwargs(block: Any, emb: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"temb": emb}
    if getattr(block, "has_cross_attention", False):
        out.update(encoder_hidden_states=context, cross_attention_kwargs=kwargs.get("cross_attention_kwargs"),
                   encoder_attention_mask=None, attention_mask=None)
    return out


def _shallow_forward(unet: Any, feature: torch.Tensor, sample: torch.Tensor, timestep: Any,
                     context: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
    """The UNet's output from its shallowest level and the cached deep feature (mirrors diffusers' forward)."""
    emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), kwargs.get("timestep_cond"))
    class_emb = unet.get_class_embed(sample=sample, class_labels=kwargs.get("class_labels"))
    if class_emb is not None:
        emb = torch.cat([emb, class_emb], dim=-1) if unet.config.class_embeddings_concat else emb + class_emb
    added = kwargs.get("added_cond_kwargs")
    aug = unet.get_aug_embed(emb=emb, encoder_hidden_states=context, added_cond_kwargs=added)
    emb = emb + aug if aug is not None else emb
    if unet.time_embed_act is not None:
        emb = unet.time_embed_act(emb)
    context = unet.process_encoder_hidden_states(encoder_hidden_states=context, added_cond_kwargs=added)
    hidden = unet.conv_in(sample)
    first = unet.down_blocks[0]
    _, res = first(hidden_states=hidden, **_block_kwargs(first, emb, context, kwargs))
    last = unet.up_blocks[-1]
    skips = ((hidden,) + tuple(res))[: len(last.resnets)]  # what the last up block takes in the full forward
    residuals = kwargs.get("down_block_additional_residuals")
    if residuals is not None:  # a ControlNet's residuals for these shallow samples, as the full forward adds them
        skips = tuple(s + r for s, r in zip(skips, residuals))
    out = last(hidden_states=feature, res_hidden_states_tuple=skips, upsample_size=None,
               **_block_kwargs(last, emb, context, kwargs))
    if unet.conv_norm_out is not None:
        out = unet.conv_act(unet.conv_norm_out(out))
    return unet.conv_out(out)


@contextmanager
def cached(unet: Any, interval: int) -> Iterator[DeepCacheState | None]:
    """For one job: the UNet runs in full on one evaluation of every `interval` (0: off, nothing changes)."""
    if not interval:
        yield None
        return
    if not supports(unet):
        raise DeepCacheError(f"DeepCache works on SD 1.x/2.x/SDXL UNets; this model's denoiser is "
                             f"{type(unet).__name__}. Set DeepCache interval to 0.")
    state = DeepCacheState(interval)
    had_own = "forward" in unet.__dict__
    original = unet.forward  # bound: keeps any hook that wrapped it (model offload)

    def capture(_module: Any, args: tuple, kwargs: dict[str, Any]) -> None:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        state._feature = hidden.detach() if hidden is not None else None

    def forward(sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor, *args: Any,
                **kwargs: Any) -> Any:
        if args or not _shallow_ok(unet, kwargs) or state.wants_full(sample, timestep):
            handle = unet.up_blocks[-1].register_forward_pre_hook(capture, with_kwargs=True)
            try:
                result = original(sample, timestep, encoder_hidden_states, *args, **kwargs)
            finally:
                handle.remove()
            state.full += 1
            state._shape, state._since_full = tuple(sample.shape), 0
            return result
        state.cached += 1
        state._since_full += 1
        out = _shallow_forward(unet, state._feature, sample, timestep, encoder_hidden_states, kwargs)
        if not kwargs.get("return_dict", True):
            return (out,)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

        return UNet2DConditionOutput(sample=out)

    unet.forward = forward
    try:
        yield state
    finally:
        if had_own:
            unet.forward = original
        else:
            del unet.forward
        log.info("DeepCache interval %d: %d full UNet evaluations, %d cached", interval, state.full, state.cached)
