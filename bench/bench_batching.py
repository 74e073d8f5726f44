"""Cross-user batching on a CUDA GPU: 4 users' compatible txt2img jobs as one batch over the same 4 jobs one after
another (images per second, and the p95 of each user's wait until their picture is done), side by side in one run.
Prepared for a GPU machine; without CUDA it says so and exits 0.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_batching.py [--family sd1|sdxl] [--users 4] [--steps 20] [--size 512]

The model is the family's architecture with random weights (bench_offload.random_pipeline, no download), saved once
to a temporary folder and served by the ModelManager as the app serves it. Each user has their own prompt and seed.
Serial: `generation.generate` per job, in turn (a user's wait is the time until their job ends). Batched:
`batched.generate_together` (every user waits for the whole batch). One warm-up each, then `--rounds` alternating.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ("a red circle", "a blue square on grass", "two green triangles", "a yellow star at night",
           "a purple cube", "an orange ring", "a white cross", "a black dot")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sd1", choices=("sd1", "sdxl"))
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_batching: CUDA is not available on this machine; batching is meant for GPUs. Skipped.")
        return 0
    from bench.bench_offload import random_pipeline
    from modules.core.requests import GenerationRequest
    from modules.engine.batched import generate_together
    from modules.engine.devices import choose_device
    from modules.engine.generation import generate
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry

    device = choose_device("auto", "auto")
    samplers = SamplerRegistry.default()
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp:
        root = Path(tmp)
        random_pipeline(args.family, device.dtype).save_pretrained(str(root / "Stable-diffusion" / "random"))
        (root / "VAE").mkdir()
        models = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE",
                              cache_file=root / "cache.json", device=device)
        models.refresh()
        base = GenerationRequest(prompt="", checkpoint="random", width=args.size, height=args.size,
                                 steps=args.steps, sampler="Euler", cfg_scale=7.0)
        requests = [dataclasses.replace(base, prompt=PROMPTS[i % len(PROMPTS)], seed=1000 + i)
                    for i in range(args.users)]

        def serial() -> list[float]:
            started, waits = time.perf_counter(), []
            for request in requests:
                generate(request, models, samplers)
                torch.cuda.synchronize()
                waits.append(time.perf_counter() - started)
            return waits

        def together() -> list[float]:
            started = time.perf_counter()
            generate_together(requests, models, samplers, [None] * len(requests))
            torch.cuda.synchronize()
            return [time.perf_counter() - started] * len(requests)

        serial(), together()  # warm-up: model load, cuDNN's algorithm choice
        runs: dict[str, list[list[float]]] = {"serial": [], "batched": []}
        for _ in range(args.rounds):
            runs["serial"].append(serial())
            runs["batched"].append(together())
    print(f"{args.family} random weights, {args.size} px, {args.steps} Euler steps, CFG 7, {args.users} users, "
          f"{torch.cuda.get_device_name()}, {device.dtype}")
    rate = {k: statistics.median(args.users / max(w) for w in v) for k, v in runs.items()}
    wait = {k: statistics.median(p95(w) for w in v) for k, v in runs.items()}
    print(f"{'':<10}{'images/s':>10}{'p95 wait s':>12}")
    for name in ("serial", "batched"):
        print(f"{name:<10}{rate[name]:>10.2f}{wait[name]:>12.2f}")
    print(f"batched / serial: images/s x{rate['batched'] / rate['serial']:.2f}, p95 wait "
          f"x{wait['batched'] / wait['serial']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
