"""Tiled against untiled model upscale: peak memory and time on one picture (1024 px by default).

The model is Real-ESRGAN's compact 4x architecture (SRVGG, 64 features) with random weights, built with
spandrel's own class and saved to a temp folder; nothing is downloaded. Each run is a fresh subprocess, so its
peak RSS (ru_maxrss) is its own; the RSS after loading the model and the picture is subtracted, leaving what
the upscale itself needed. Runs alternate (untiled, tiled, untiled, tiled...) so a busy CPU slows both alike.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_upscale.py [--size 1024] [--tile 192] [--overlap 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(model_path: str, size: int, tile: int, overlap: int) -> None:
    import resource
    import time

    import numpy as np
    import torch
    from PIL import Image
    from spandrel import ModelLoader

    sys.path.insert(0, str(ROOT))
    from modules.engine.upscaling import upscale_with_model

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = ModelLoader().load_from_file(model_path).eval()
    picture = Image.fromarray((np.random.RandomState(0).rand(size, size, 3) * 255).astype(np.uint8))
    with torch.inference_mode():  # warm the allocator and oneDNN on a small picture
        upscale_with_model(model, picture.resize((32, 32)), tile, overlap)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    out = upscale_with_model(model, picture, tile, overlap)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "extra_mb": (peak - before) / 1024, "size": list(out.size)}))


def run(model_path: Path, size: int, tile: int, overlap: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(model_path), "--size", str(size),
                          "--tile", str(tile), "--overlap", str(overlap)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=192)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--convs", type=int, default=16, help="body convolutions (Real-ESRGAN general-x4v3 has 32)")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.tile, args.overlap)
        return

    import torch
    from spandrel.architectures.Compact import Compact

    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "compact-x4.pth"
        torch.manual_seed(0)
        torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=args.convs, upscale=4).state_dict(),
                   model_path)
        untiled, tiled = [], []
        for _ in range(args.repeats):
            untiled.append(run(model_path, args.size, 0, 0))
            tiled.append(run(model_path, args.size, args.tile, args.overlap))
    mem_u = max(r["extra_mb"] for r in untiled)
    mem_t = max(r["extra_mb"] for r in tiled)
    time_u = statistics.median(r["seconds"] for r in untiled)
    time_t = statistics.median(r["seconds"] for r in tiled)
    print(f"{args.size} px -> {untiled[0]['size'][0]} px, compact 4x ({args.convs} convs), tile {args.tile}, "
          f"overlap {args.overlap}")
    print(f"untiled: {time_u:.2f} s, +{mem_u:.0f} MB peak")
    print(f"tiled:   {time_t:.2f} s, +{mem_t:.0f} MB peak")
    print(f"ratio tiled/untiled: time {time_t / time_u:.2f}, peak memory {mem_t / max(mem_u, 1):.3f}")


if __name__ == "__main__":
    main()
