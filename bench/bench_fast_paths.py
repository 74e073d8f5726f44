"""Fast paths of issue 16, each against its usual path, side by side in one run.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_fast_paths.py [--rounds 3] [--size 256]

1. Few-step + TAESD over the usual picture: the denoising loop and the decode of an SD 1.5-architecture model
   (UNet, VAE and TAESD all randomly initialised at full size: their cost does not depend on the weights; no real
   weights exist on this machine). Usual: 25 Euler steps at CFG 7 (a UNet call of batch 2 per step) and the VAE
   decode. Fast: 4 steps at CFG 1 (batch 1, the unguided pass skipped) and the TAESD decode. Text encoding is
   left out of both (the same 0.1 s either way).
2. TAESD live preview per step over the linear preview, on the same latents, and beside one UNet step.
3. DeepCache: its speed-up on the full-size random UNet (one sampling loop each, alternated) and its quality on
   the trained demo-shapes model (mean absolute pixel difference from the uncached picture, 0-255, same seed).
Medians of alternating rounds after a warm-up; the ratios are what to read on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.core.requests import GenerationRequest  # noqa: E402
from modules.engine import deepcache, previews, taesd  # noqa: E402
from modules.engine.devices import choose_device  # noqa: E402
from modules.engine.generation import generate  # noqa: E402
from modules.engine.models.manager import ModelManager  # noqa: E402
from modules.engine.samplers import SamplerRegistry  # noqa: E402

CONFIGS = ROOT / "modules" / "engine" / "models" / "configs" / "sd1"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(jobs: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    for fn in jobs.values():  # warm-up: first calls pay for oneDNN's kernel choice
        fn()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, fn in jobs.items():
            times[name].append(timed(fn))
    return times


def show(times: dict[str, list[float]], unit: str = "s") -> dict[str, float]:
    medians = {}
    for name, values in times.items():
        medians[name] = statistics.median(values)
        scale = 1000 if unit == "ms" else 1
        print(f"  {name:<44} {medians[name] * scale:9.3f} {unit}   (all: "
              + ", ".join(f"{v * scale:.3f}" for v in values) + ")")
    return medians


def full_size_models(device: torch.device, dtype: torch.dtype):
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

    layout = {"memory_format": torch.channels_last} if device.type == "cpu" and dtype == torch.bfloat16 else {}
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(CONFIGS / "vae"))
    tiny = AutoencoderTiny()
    return (unet.to(device, dtype, **layout).eval(), vae.to(device, dtype, **layout).eval(),
            tiny.to(device, dtype).eval())


def sampling_loop(unet, steps: int, batch: int, latents: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    from diffusers import EulerDiscreteScheduler

    scheduler = EulerDiscreteScheduler.from_pretrained(CONFIGS / "scheduler")
    scheduler.set_timesteps(steps)
    x = latents * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_in = scheduler.scale_model_input(torch.cat([x] * batch), t)
            noise = unet(model_in, t, context[:batch]).sample
            if batch == 2:
                uncond, cond = noise.chunk(2)
                noise = uncond + 7.0 * (cond - uncond)
            x = scheduler.step(noise, t, x).prev_sample
    return x


def few_step_section(unet, vae, tiny, size: int, rounds: int, device, dtype) -> None:
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    context = torch.randn(2, 77, 768, generator=torch.Generator().manual_seed(2)).to(device, dtype)

    def usual() -> None:
        x = sampling_loop(unet, 25, 2, latents, context)
        with torch.no_grad():
            vae.decode(x / vae.config.scaling_factor)

    def fast() -> None:
        x = sampling_loop(unet, 4, 1, latents, context)
        taesd.decode_pixels(tiny, x)

    print(f"\n1. few-step + TAESD over the usual picture ({size}x{size}, SD 1.5 architecture, random weights)")
    medians = show(alternate({"usual (25 steps, CFG 7, VAE decode)": usual,
                              "fast (4 steps, CFG 1, TAESD decode)": fast}, rounds))
    a, b = medians.values()
    print(f"  ratio usual / fast: {a / b:.2f}x faster   (goal in issue 16: >= 8x)")
    decode = alternate({"VAE decode": lambda: vae.decode(latents / vae.config.scaling_factor),
                        "TAESD decode": lambda: taesd.decode_pixels(tiny, latents)}, rounds)
    with torch.no_grad():
        d = show(decode)
    print(f"  decode alone: TAESD {list(d.values())[0] / list(d.values())[1]:.1f}x faster than the VAE")


def preview_section(unet, tiny, size: int, rounds: int, device, dtype) -> None:
    latents = torch.randn(1, 4, size // 8, size // 8).to(device, dtype)
    context = torch.randn(1, 77, 768).to(device, dtype)
    linear = previews.factors_for("sd1")
    tiny_preview = previews.TinyPreview(tiny)
    print(f"\n2. live preview cost per step ({size}x{size})")
    with torch.no_grad():
        m = show(alternate({"linear preview (Approx cheap)": lambda: previews.render(linear, latents),
                            "TAESD preview": lambda: previews.render(tiny_preview, latents),
                            "one UNet step at CFG 1 (for scale)": lambda: unet(latents, 500, context)}, rounds),
                 unit="ms")
    lin, tae, step = m.values()
    print(f"  TAESD preview costs {tae / lin:.0f}x the linear one, {100 * tae / step:.1f}% of a UNet step")


def deepcache_speed(unet, size: int, rounds: int, device, dtype, intervals: tuple[int, ...]) -> None:
    latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(3)).to(device, dtype)
    context = torch.randn(2, 77, 768, generator=torch.Generator().manual_seed(4)).to(device, dtype)

    def loop(interval: int) -> Callable[[], object]:
        def run() -> None:
            with deepcache.cached(unet, interval):
                sampling_loop(unet, 20, 2, latents, context)
        return run

    print(f"\n3a. DeepCache speed, 20 Euler steps at CFG 7 ({size}x{size}, full-size UNet, random weights)")
    jobs = {"no cache": loop(0), **{f"DeepCache interval {n}": loop(n) for n in intervals}}
    m = show(alternate(jobs, rounds))
    base = m["no cache"]
    for n in intervals:
        print(f"  interval {n}: {base / m[f'DeepCache interval {n}']:.2f}x faster")


def deepcache_quality(models_dir: Path, intervals: tuple[int, ...], device_config) -> None:
    with tempfile.TemporaryDirectory() as cache:
        manager = ModelManager(checkpoints_dir=models_dir / "Stable-diffusion", vae_dir=models_dir / "VAE",
                               cache_file=Path(cache) / "models.json", device=device_config)
        manager.refresh()
        samplers = SamplerRegistry.default()
        print("\n3b. DeepCache quality on demo-shapes (48x48, Euler 20 steps, CFG 5, 4 seeds): mean |pixel "
              "difference| from the uncached picture, and time of the whole job")
        for prompt_seed in range(4):
            request = GenerationRequest(prompt="a large red circle on a blue background, in the center",
                                        seed=100 + prompt_seed, width=48, height=48, steps=20, cfg_scale=5.0,
                                        sampler="Euler", checkpoint="demo-shapes")
            started = time.perf_counter()
            plain = np.asarray(generate(request, manager, samplers).images[0], dtype=np.float32)
            base = time.perf_counter() - started
            cells = [f"seed {request.seed}: uncached {base:.2f} s"]
            for n in intervals:
                started = time.perf_counter()
                image = generate(replace(request, deepcache_interval=n), manager, samplers).images[0]
                took = time.perf_counter() - started
                diff = np.abs(np.asarray(image, dtype=np.float32) - plain).mean()
                cells.append(f"interval {n}: {diff:5.2f} ({took:.2f} s)")
            print("  " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--only", choices=("few-step", "preview", "deepcache", "quality"), default=None,
                        help="one section (quality: DeepCache on demo-shapes alone, no full-size models)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each figure shows as it is measured, also into a file
    config = choose_device("auto", "auto")
    device, dtype = config.device, config.dtype
    print(f"{device} / {str(dtype).replace('torch.', '')}, {torch.get_num_threads()} torch threads")
    intervals = (2, 3, 5)
    if args.only in (None, "deepcache", "quality"):
        deepcache_quality(args.models_dir, intervals, config)
    if args.only == "quality":
        return
    unet, vae, tiny = full_size_models(device, dtype)
    if args.only in (None, "few-step"):
        few_step_section(unet, vae, tiny, args.size, args.rounds, device, dtype)
    if args.only in (None, "preview"):
        preview_section(unet, tiny, args.size, args.rounds, device, dtype)
    if args.only in (None, "deepcache"):
        deepcache_speed(unet, args.size, args.rounds, device, dtype, intervals)

if __name__ == "__main__":
    main()
