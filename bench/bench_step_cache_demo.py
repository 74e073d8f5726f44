"""Step caches on the trained demo-flux-shapes through generate(): speed-up and mean pixel difference per seed.

    HF_HUB_OFFLINE=1 PYTHONPATH=. nice .venv/bin/python bench/bench_step_cache_demo.py

Each job runs once per setting (text encoding and decode included), fp32, 1 thread, 48 px, 20 steps.
"""
import time, statistics, numpy as np, torch
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dataclasses import replace
from modules.core.requests import GenerationRequest
from modules.engine.devices import DeviceConfig
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from modules.engine.models.manager import ModelManager
torch.set_num_threads(1)
root = ROOT / "models"
m = ModelManager(checkpoints_dir=root/"Stable-diffusion", vae_dir=root/"VAE", cache_file=Path("/tmp/sc_demo_cache.json"),
                 device=DeviceConfig(torch.device("cpu"), torch.float32, "bench"))
m.refresh()
S = SamplerRegistry.default()
base = GenerationRequest(prompt="a red circle on a blue background", checkpoint="demo-flux-shapes", sampler="Euler",
                         steps=20, cfg_scale=1.0, width=48, height=48, seed=100)
generate(replace(base, steps=2), m, S)
names = ("", "FirstBlockCache", "TaylorSeer")
times = {n: [] for n in names}; diffs = {n: [] for n in names}
for seed, prompt in ((100, "a red circle on a blue background"), (101, "a green square on a yellow background"),
                     (102, "a blue triangle on a white background"), (103, "a yellow star on a black background")):
    ref = None
    for name in names:
        t = time.perf_counter(); r = generate(replace(base, seed=seed, prompt=prompt, step_cache=name), m, S)
        times[name].append(time.perf_counter() - t)
        px = np.asarray(r.images[0]).astype(float)
        ref = px if ref is None else ref
        diffs[name].append(np.abs(px - ref).mean())
b = statistics.median(times[""])
for name in names:
    print(f"{name or 'none':<16} median {statistics.median(times[name]):5.2f} s  speed-up {b/statistics.median(times[name]):.2f}x  "
          f"mean px diff per seed {', '.join(f'{d:.2f}' for d in diffs[name])}  (mean {np.mean(diffs[name]):.2f})")
