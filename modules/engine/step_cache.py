"""Step caching for the transformer families (Flux-class): diffusers' caches, switched on for one job.

Each skips work on steps where the transformer's output is predictable from earlier steps (lossy; opt-in per job as
`step_cache`, named in the infotext as "Step cache: ..."):
- FirstBlockCache: runs the first block; when its output changed little since the last full step (relative change
  under the threshold), the other blocks are skipped and their last residual reused.
- TaylorSeer: full steps every few steps; in between, each attention output is extrapolated from its recent values
  (a first-order Taylor series in the step).
- MagCache: skips while the accumulated error, predicted from the model's calibrated magnitude ratios, stays small;
  the ratios shipped with diffusers are Flux.1's, so it is offered for the Flux family only.
The UNet families have DeepCache (engine/deepcache.py) instead: diffusers' caches need a transformer's blocks.
The hooks are removed after the job, so the next job (and its cache state) starts clean.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# Settings tuned on the side of quality (diffusers' own examples for Flux use 0.08-0.2 and interval 5).
FIRST_BLOCK_THRESHOLD = 0.1
TAYLORSEER_INTERVAL = 4
MAGCACHE_THRESHOLD = 0.06
# Transformers whose pipelines name their calls with `cache_context` (FirstBlockCache and MagCache need it).
SUPPORTED = ("FluxTransformer2DModel",)


class StepCacheError(ValueError):
    """A step cache asked of a model it cannot serve; the message says what to do."""


def config_for(name: str, steps: int, family: str | None) -> Any:
    from diffusers import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    if name == "FirstBlockCache":
        return FirstBlockCacheConfig(threshold=FIRST_BLOCK_THRESHOLD)
    if name == "TaylorSeer":
        # The first steps fill the Taylor factors; with fewer steps than that it would never skip.
        return TaylorSeerCacheConfig(cache_interval=TAYLORSEER_INTERVAL, disable_cache_before_step=min(3, steps - 1),
                                     max_order=1)
    if name == "MagCache":
        if family != "flux":
            raise StepCacheError(f"MagCache needs magnitude ratios calibrated for the model; those shipped are "
                                 f"Flux.1's, and this is {family}. Choose FirstBlockCache or TaylorSeer.")
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        return MagCacheConfig(threshold=MAGCACHE_THRESHOLD, num_inference_steps=steps, mag_ratios=FLUX_MAG_RATIOS)
    raise StepCacheError(f"Unknown step cache {name!r}: choose FirstBlockCache, TaylorSeer or MagCache.")


@contextmanager
def cached(transformer: Any, name: str, steps: int, family: str | None) -> Iterator[None]:
    """The transformer with the named cache for the block (nothing when `name` is empty)."""
    if not name:
        yield
        return
    kind = type(transformer).__name__
    if kind not in SUPPORTED:
        raise StepCacheError(f"Step caches work on Flux transformers; this model's denoiser is {kind}. "
                             + ("Use DeepCache for SD 1.x/2.x/XL." if kind == "UNet2DConditionModel" else
                                "Turn the step cache off."))
    transformer.enable_cache(config_for(name, steps, family))
    log.info("step cache %s on for this job", name)
    try:
        yield
    finally:
        transformer.disable_cache()
