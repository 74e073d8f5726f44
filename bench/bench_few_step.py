"""Few-step over many-step txt2img on demo-shapes, side by side in one run.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_few_step.py [--rounds 5] [--size 48]

A few-step job (4 steps, CFG 1: one UNet call per step, no unguided pass) against today's usual job (20 steps,
CFG 7: one UNet call of twice the batch per step), both through our generate() on the same loaded model, seed
and size. The two alternate, after one warm-up each, so the machine's noise hits both alike; medians of seconds
per picture and their ratio are printed. demo-shapes is not distilled for few steps: this measures the cost,
not the quality, of the fast path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.core.requests import GenerationRequest  # noqa: E402
from modules.engine.devices import choose_device  # noqa: E402
from modules.engine.generation import generate  # noqa: E402
from modules.engine.models.manager import ModelManager  # noqa: E402
from modules.engine.samplers import SamplerRegistry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=48, help="width and height (demo-shapes is trained at 48)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()

    device = choose_device("auto", "auto")
    with tempfile.TemporaryDirectory() as cache:
        manager = ModelManager(checkpoints_dir=args.models_dir / "Stable-diffusion", vae_dir=args.models_dir / "VAE",
                               cache_file=Path(cache) / "models.json", device=device)
        manager.refresh()
        samplers = SamplerRegistry.default()
        base = GenerationRequest(prompt="a large red circle on a blue background, in the center", seed=1234,
                                 width=args.size, height=args.size, checkpoint="demo-shapes")
        jobs = {
            "few-step (LCM, 4 steps, CFG 1)": replace(base, sampler="LCM", steps=4, cfg_scale=1.0),
            "usual (Euler, 20 steps, CFG 7)": replace(base, sampler="Euler", steps=20, cfg_scale=7.0),
        }
        calls: list[int] = []
        original = UNet2DConditionModel.forward

        def counting(self, sample, *a, **k):
            calls.append(sample.shape[0])
            return original(self, sample, *a, **k)

        UNet2DConditionModel.forward = counting  # this process only: to print the work each side does
        times: dict[str, list[float]] = {name: [] for name in jobs}
        work: dict[str, int] = {}
        for name, request in jobs.items():  # warm-up: load the model, first-call costs
            calls.clear()
            generate(request, manager, samplers)
            work[name] = sum(calls)
        for round_ in range(args.rounds):
            order = list(jobs.items()) if round_ % 2 == 0 else list(reversed(jobs.items()))
            for name, request in order:
                start = time.perf_counter()
                generate(request, manager, samplers)
                times[name].append(time.perf_counter() - start)

    few, usual = (statistics.median(t) for t in times.values())
    print(f"device {device.device}, {str(device.dtype).replace('torch.', '')}, torch threads "
          f"{torch.get_num_threads()}, {args.size}x{args.size}, {args.rounds} rounds (medians)")
    for name, values in times.items():
        print(f"  {name:34s} {statistics.median(values):7.3f} s/picture   UNet images evaluated: {work[name]:3d}   "
              f"(all: {', '.join(f'{v:.3f}' for v in values)})")
    print(f"  ratio usual / few-step: {usual / few:.2f}x faster   (goal in issue 16: >= 8x)")


if __name__ == "__main__":
    main()
