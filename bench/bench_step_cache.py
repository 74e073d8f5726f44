"""Step caches on a Flux-architecture transformer: each cache's speed-up over the uncached sampling loop and its mean
pixel difference from the uncached picture, side by side in one run.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_step_cache.py [--rounds 3] [--steps 20] [--size 128]

The pipeline is Flux's (FluxPipeline, flow Euler) with a random transformer of Flux's block layout, narrower and
shallower than Flux.1 (width 512, 4 double + 8 single blocks) so a run takes seconds on this CPU, and the tiny text
encoders and 4x VAE of tests/fixtures/tiny_flow.py (their cost is the same on every side). The caches run with the
app's settings (engine/step_cache.py). No trained Flux-class model exists on this machine: with random weights the
first block's output changes more from step to step than a trained model's does, so FirstBlockCache skips less
here than on a real Flux (the speed-up is a lower bound) and the pixel difference is not a quality judgement of a
trained model. MagCache runs with Flux.1's calibrated ratios, which do not describe a random model either.
Medians of alternating rounds after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.engine import step_cache  # noqa: E402


def build(folder: Path, width: int, double: int, single: int):
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from tests.fixtures.tiny_flow import FLUX_FIXTURE, save_tiny_flux

    save_tiny_flux(folder / "tiny-flux")
    torch.manual_seed(0)
    cfg = FLUX_FIXTURE
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=cfg.latent_channels * 4, num_layers=double, num_single_layers=single,
        attention_head_dim=128, num_attention_heads=width // 128, joint_attention_dim=cfg.t5_width,
        pooled_projection_dim=cfg.clip_width, guidance_embeds=False, axes_dims_rope=(16, 56, 56))
    pipe = FluxPipeline.from_pretrained(str(folder / "tiny-flux"), transformer=transformer.to(torch.bfloat16),
                                        dtype=torch.bfloat16, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-step-cache-") as tmp:
        pipe = build(Path(tmp), 512, 4, 8)
    calls = [0]
    # A submodule of the last block: a skipped block never calls it (hooks on the block itself fire either way).
    pipe.transformer.single_transformer_blocks[-1].proj_mlp.register_forward_hook(
        lambda *_: calls.__setitem__(0, calls[0] + 1))

    def run(name: str) -> tuple[float, np.ndarray, int]:
        calls[0] = 0
        started = time.perf_counter()
        with step_cache.cached(pipe.transformer, name, args.steps, "flux"):
            image = pipe(prompt="a red circle on a blue background", height=args.size, width=args.size,
                         num_inference_steps=args.steps, generator=torch.Generator().manual_seed(1)).images[0]
        return time.perf_counter() - started, np.asarray(image).astype(np.float32), calls[0]

    names = ["", "FirstBlockCache", "TaylorSeer", "MagCache"]
    for name in names:  # warm-up
        run(name)
    times: dict[str, list[float]] = {n: [] for n in names}
    pictures: dict[str, np.ndarray] = {}
    full_steps: dict[str, int] = {}
    for _ in range(args.rounds):
        for name in names:
            seconds, pictures[name], full_steps[name] = run(name)
            times[name].append(seconds)
    base = statistics.median(times[""])
    print(f"Flux-architecture transformer (width 512, 4+8 blocks, random, bf16), {args.size} px, {args.steps} steps, "
          f"{args.threads} thread(s), {args.rounds} rounds")
    print(f"{'cache':<18}{'loop s':>9}{'speed-up':>10}{'last MLP ran':>16}{'mean px diff':>14}{'max px diff':>13}")
    for name in names:
        median = statistics.median(times[name])
        diff = np.abs(pictures[name] - pictures[""])
        print(f"{name or 'none':<18}{median:>9.2f}{base / median:>9.2f}x{full_steps[name]:>10}/{args.steps:<5}"
              f"{diff.mean():>14.2f}{diff.max():>13.0f}")


if __name__ == "__main__":
    main()
