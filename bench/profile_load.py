"""Where does ModelManager.load spend its time over a bare from_single_file? (companion to bench_foundation.py)

Times each stage of our load path (modules.engine.models.manager.load_pipeline + ModelManager.load's bookkeeping)
next to a bare ``from_single_file`` + ``.to``, interleaved, on the checkpoints bench_foundation.py built.
Also times a candidate fix ("fused"): read at the file's own dtype (no conversion, tensors stay memory-mapped),
then convert dtype and memory format (channels_last) in one pass, after checking once that it yields the very
same weights, dtypes and strides as our current path. Reports wall and process-CPU medians per stage.
Run bench_foundation.py first (it builds the checkpoints).

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/profile_load.py [--repeats 3] [--cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sdwebui-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cprofile", action="store_true", help="also cProfile one ModelManager.load")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import diffusers
    from diffusers import StableDiffusionPipeline
    from transformers.utils import logging as hf_logging

    from modules.engine.devices import choose_device
    from modules.engine.models import manager as mm
    from modules.engine.models.single_file import ModelFamily, config_dir, load_single_file

    hf_logging.set_verbosity_error()
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    device = choose_device("auto", "auto")
    family = ModelFamily("sd1", "SD 1.x")
    config = str(config_dir(family))
    paths = [args.workdir / "Stable-diffusion" / n for n in ("bench-a.safetensors", "bench-b.safetensors")]

    stages: dict[str, list[tuple[float, float]]] = {}

    def stage(name: str, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        stages.setdefault(name, []).append((time.perf_counter() - w, time.process_time() - c))
        return out

    def fused_convert(pipe) -> None:
        last = {"memory_format": torch.channels_last} if device.dtype == torch.bfloat16 else {}
        pipe.unet.to(device.device, device.dtype, **last)
        pipe.vae.to(device.device, device.dtype, **last)
        pipe.text_encoder.to(device.device, device.dtype)

    # Check once that the fused path gives the very same weights and layout as our current path.
    a = load_single_file(paths[1], family, dtype=device.dtype).to(device.device)
    mm._optimise_for_device(a, device)
    b = load_single_file(paths[1], family, dtype=torch.float16)
    fused_convert(b)
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype and sa[k].stride() == sb[k].stride()
                   for k in sa), name
    print("fused path: identical weights, dtypes and strides", flush=True)
    del a, b
    mm.release_memory()

    # One model stays resident throughout, as in the benchmark (the manager holds the previous checkpoint).
    resident = load_single_file(paths[0], family, dtype=device.dtype)
    for rep in range(args.repeats):
        path = paths[rep % 2]
        order = ("bare", "ours", "fused") if rep % 2 == 0 else ("fused", "ours", "bare")
        for side in order:
            if side == "bare":
                pipe = stage("bare: from_single_file", lambda: StableDiffusionPipeline.from_single_file(
                    str(path), config=config, local_files_only=True, dtype=device.dtype))
                stage("bare: .to(device)", lambda: pipe.to(device.device))
                del pipe
                stage("bare: (untimed in bench) free + release_memory", mm.release_memory)
            elif side == "fused":
                # Candidate fix: read at the file's dtype (fp16 here: no conversion, tensors come from the
                # memory map), then convert dtype and memory format in one pass per tensor.
                pipe = stage("fused: load_single_file(dtype=file's fp16)",
                             lambda: load_single_file(path, family, dtype=torch.float16))
                stage("fused: .to(device, dtype) + channels_last in one pass", lambda: fused_convert(pipe))
                old, resident = resident, pipe
                del old, pipe
                stage("fused: eviction free + release_memory", mm.release_memory)
            else:
                pipe = stage("ours: load_single_file", lambda: load_single_file(path, family, dtype=device.dtype))
                stage("ours: .to(device)", lambda: pipe.to(device.device))
                stage("ours: _optimise_for_device (channels_last)", lambda: mm._optimise_for_device(pipe, device))
                old, resident = resident, pipe  # what the LRU eviction does: drop the previous model...
                del old, pipe
                stage("ours: eviction free + release_memory (gc + malloc_trim)", mm.release_memory)
        print(f"rep {rep + 1} done", flush=True)

    print(f"\n{'stage':60} {'wall median':>12} {'CPU median':>12}   (dtype {device.dtype}, {args.threads} thread)")
    for name, samples in stages.items():
        wall, cpu = statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
        print(f"{name:60} {wall:11.2f}s {cpu:11.2f}s")

    if args.cprofile:
        del resident
        mm.release_memory()
        manager = mm.ModelManager(checkpoints_dir=args.workdir / "Stable-diffusion", vae_dir=args.workdir / "VAE",
                                  cache_file=args.workdir / "model-cache.json", device=device, models_in_ram=1)
        manager.refresh()
        infos = [manager.resolve(p.name) for p in paths]
        manager.load(infos[0])
        profiler = cProfile.Profile()
        profiler.enable()
        manager.load(infos[1])
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        print(out.getvalue())


if __name__ == "__main__":
    main()
