"""Memory policies on a CUDA GPU: peak VRAM and time of one txt2img job under full / offload / lowvram (and fp8
weights), side by side in one run. Prepared for a GPU machine; without CUDA it says so and exits 0.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_offload.py [--family sdxl|sd1] [--steps 20] [--size 1024]

The model is the family's architecture with random weights (built from our offline configs), so no download is
needed and the figures depend only on sizes. Each policy gets a fresh pipeline placed by
`modules.engine.placement.place`, one warm-up job, then `--rounds` timed jobs; the peak is
torch.cuda.max_memory_allocated over the timed jobs. Ratios are against "full".
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.engine import placement  # noqa: E402
from modules.engine.devices import choose_device  # noqa: E402

CONFIGS = ROOT / "modules" / "engine" / "models" / "configs"


def random_pipeline(family: str, dtype: torch.dtype):
    from diffusers import DiffusionPipeline

    folder = CONFIGS / family
    # from_pretrained with no weights would fail; build every component from its config instead.
    import diffusers
    import transformers

    index = DiffusionPipeline.load_config(folder)
    parts = {}
    for name, (library, cls_name) in index.items():
        if name.startswith("_") or library is None:
            continue
        module = diffusers if library == "diffusers" else transformers
        cls = getattr(module, cls_name)
        if name.startswith("tokenizer"):
            parts[name] = cls.from_pretrained(folder / name)
        elif name == "scheduler":
            parts[name] = cls.from_pretrained(folder / name)
        elif library == "transformers":
            parts[name] = cls(cls.config_class.from_pretrained(folder / name)).to(dtype)
        else:
            parts[name] = cls.from_config(cls.load_config(folder / name)).to(dtype)
    pipe_cls = getattr(diffusers, index["_class_name"])
    extra = {} if family.startswith("sdxl") else {"safety_checker": None, "feature_extractor": None,
                                                  "requires_safety_checker": False}
    pipe = pipe_cls(**parts, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sdxl", choices=("sdxl", "sd1"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_offload: no CUDA GPU here; the memory policies only differ on a GPU. Skipped.")
        return 0
    base = choose_device("cuda", "auto")
    rows = []
    for policy, fp8 in (("full", False), ("offload", False), ("lowvram", False), ("full", True)):
        device = dataclasses.replace(base, memory=policy)
        pipe = random_pipeline(args.family, base.dtype)
        placed = placement.place(pipe, device, fp8=fp8)

        def job() -> None:
            pipe(prompt="a red circle", num_inference_steps=args.steps, height=args.size, width=args.size,
                 guidance_scale=7.0, output_type="pil")

        job()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            job()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        peak = torch.cuda.max_memory_allocated()
        label = placed.choice.policy + (" + fp8 weights" if fp8 else "")
        rows.append((label, statistics.median(times), peak))
        del pipe
        gc.collect()
        torch.cuda.empty_cache()
    full_time, full_peak = rows[0][1], rows[0][2]
    print(f"{args.family} {args.size}x{args.size}, {args.steps} steps, {torch.cuda.get_device_name(0)}")
    for label, seconds, peak in rows:
        print(f"  {label:<22} {seconds:8.2f} s  ({seconds / full_time:4.2f}x the time)   peak "
              f"{peak / 2**30:6.2f} GiB ({peak / full_peak:4.2f}x the VRAM)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
