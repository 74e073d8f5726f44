"""--compile over eager on a CUDA GPU: per-step time of the denoiser and the first call's seconds, side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_compile.py [--size 1024] [--model sdxl|sd15] [--steps 20]

The denoiser is SD 1.5's or SDXL's UNet architecture (our offline configs) with random weights, at the GPU's
precision (bf16 where supported, else fp16); one "step" is one CFG call (batch 2). Eager runs first (warm-up, then
`--steps` timed calls), then the same module gets the app's plan (engine/compilation.py: regional compilation of
its repeated blocks, channels_last, TF32) and the first call (compilation included) and `--steps` more are timed.
Without CUDA it prints "Skipped: no CUDA" and exits cleanly: torch.compile on the CPU is refused by the app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIGS = ROOT / "modules" / "engine" / "models" / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("sd15", "sdxl"), default="sd15")
    parser.add_argument("--size", type=int, default=0, help="picture side (default 512 for sd15, 1024 for sdxl)")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("Skipped: no CUDA (torch.compile of the denoiser is CUDA-only in this app; run this on a GPU machine)")
        return

    from diffusers import UNet2DConditionModel

    from modules.engine import compilation

    device = torch.device("cuda")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    folder = CONFIGS / ("sd1" if args.model == "sd15" else "sdxl")
    size = args.size or (512 if args.model == "sd15" else 1024)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder, subfolder="unet"))
    unet = unet.to(device, dtype).eval()
    generator = torch.Generator(device).manual_seed(0)
    sample = torch.randn(2, unet.config.in_channels, size // 8, size // 8, generator=generator, device=device,
                         dtype=dtype)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=generator, device=device, dtype=dtype)
    kwargs = {}
    if unet.config.addition_embed_type == "text_time":  # SDXL: pooled text and size conditioning
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(2, 1280, generator=generator, device=device, dtype=dtype),
            "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2, device=device, dtype=dtype)}
    timestep = torch.tensor(500, device=device)

    def step() -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.no_grad():
            unet(sample, timestep, context, return_dict=False, **kwargs)
        torch.cuda.synchronize()
        return time.perf_counter() - started

    eager_first = step()
    eager = statistics.median(step() for _ in range(args.steps))
    plan = compilation.plan_for(unet, device_type="cuda", compile_available=hasattr(torch, "compile"))
    compilation.enable_tf32()
    blocks = compilation.apply(unet, plan)
    if plan.channels_last:
        sample = sample.to(memory_format=torch.channels_last)
    compiled_first = step()
    compiled = statistics.median(step() for _ in range(args.steps))
    print(f"{args.model} UNet (random weights), {size} px, CFG batch 2, {str(dtype).replace('torch.', '')}, "
          f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"plan: {plan.describe()} ({blocks} blocks)")
    print(f"{'':<10}{'first call s':>14}{'per step ms':>14}")
    print(f"{'eager':<10}{eager_first:>14.2f}{eager * 1000:>14.1f}")
    print(f"{'compiled':<10}{compiled_first:>14.2f}{compiled * 1000:>14.1f}")
    saved = eager - compiled
    payback = (f"paid back after {(compiled_first - eager) / saved:.0f} steps" if saved > 0
               else "never paid back (no gain per step)")
    print(f"compiled / eager per step: x{compiled / eager:.2f} ({eager / compiled:.2f}x the speed); first call "
          f"{compiled_first:.1f} s, {payback}")


if __name__ == "__main__":
    main()
