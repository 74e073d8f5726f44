"""LoRA training step time on the CPU: the demo model's UNet trained in float32 against bfloat16, side by side in
one run (the app trains a float32 copy on a CPU because of this ratio).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_lora_training.py [--steps 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules.engine.lora_training import trainer  # noqa: E402
from modules.engine.lora_training.trainer import Example, Hooks, TrainSettings  # noqa: E402
from training import shapes  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "models" / "Stable-diffusion" / "demo-shapes"


def seconds_per_step(dtype: torch.dtype, steps: int, examples: list[Example]) -> float:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(DEMO, torch_dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    stamps: list[float] = []
    settings = TrainSettings(steps=steps + 1, batch_size=8, resolution=48, learning_rate=1e-3)
    # Call the loop on the pipeline as loaded: the float32 copy the app makes for bf16 on a CPU is what is timed
    # here against the bf16 path itself, so that copy is switched off for this measurement.
    original = trainer.float32_copy
    trainer.float32_copy = lambda p: p
    try:
        trainer.train_lora(pipe, examples, settings, Hooks(on_progress=lambda p: stamps.append(time.perf_counter())))
    finally:
        trainer.float32_copy = original
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)  # the first step (warm-up) is left out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = [Example(s.image, s.caption) for s in (shapes.training_sample(i, 48) for i in range(16))]
    fp32 = seconds_per_step(torch.float32, args.steps, examples)
    bf16 = seconds_per_step(torch.bfloat16, args.steps, examples)
    print(f"demo UNet LoRA step, batch 8 at 48 px, {args.threads} thread(s): float32 {fp32:.2f} s, "
          f"bfloat16 {bf16:.2f} s; bfloat16 / float32 = {bf16 / fp32:.2f}x")


if __name__ == "__main__":
    main()
