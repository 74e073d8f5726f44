"""VAE tiled over untiled decode: peak memory and time at a large size, and the largest pixel difference between
the two pictures, side by side in one run.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_vae_tiling.py [--size 2048] [--dtype bfloat16]

The VAE is SD 1.5's architecture with random weights (our offline config; cost and memory do not depend on the
weights), decoding the same random latents. Each decode runs in a fresh process (peak = VmHWM reset after the VAE
is built, so it is the decode's own peak: activations and output), untiled first, then tiled through diffusers'
`enable_tiling` as `engine/vae_decode.py` switches it on. The pictures are compared as 8-bit images.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np, torch
from diffusers import AutoencoderKL
size, dtype, tiled, out = int(sys.argv[1]), getattr(torch, sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
torch.manual_seed(0)
vae = AutoencoderKL.from_config(AutoencoderKL.load_config(sys.argv[5], subfolder="vae")).to(dtype).eval()
latents = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1)).to(dtype)
if tiled:
    vae.enable_tiling()
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
started = time.perf_counter()
with torch.no_grad():
    image = vae.decode(latents).sample
seconds = time.perf_counter() - started
np.save(out, ((image[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().numpy())
print(json.dumps({"peak": status("VmHWM") - base, "seconds": seconds}))
"""


def decode(size: int, dtype: str, tiled: bool, out: Path) -> dict[str, float]:
    configs = ROOT / "modules" / "engine" / "models" / "configs" / "sd1"
    run = subprocess.run([sys.executable, "-c", CHILD, str(size), dtype, "1" if tiled else "0", str(out),
                          str(configs)], capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    if run.returncode:
        raise SystemExit(f"the {'tiled' if tiled else 'untiled'} decode failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vae-") as tmp:
        whole = decode(args.size, args.dtype, False, Path(tmp) / "whole.npy")
        tiled = decode(args.size, args.dtype, True, Path(tmp) / "tiled.npy")
        difference = np.abs(np.load(Path(tmp) / "whole.npy").astype(int) - np.load(Path(tmp) / "tiled.npy"))
    mib = 1024 ** 2
    print(f"SD 1.5 VAE (random weights), {args.size} px decode, {args.dtype}, CPU")
    print(f"{'':<10}{'peak MiB':>10}{'seconds':>10}")
    for name, figures in (("untiled", whole), ("tiled", tiled)):
        print(f"{name:<10}{figures['peak'] / mib:>10.0f}{figures['seconds']:>10.1f}")
    print(f"tiled / untiled: peak memory x{tiled['peak'] / whole['peak']:.2f} (goal <= 0.35), time "
          f"x{tiled['seconds'] / whole['seconds']:.2f}; pixel difference max {difference.max()}, mean "
          f"{difference.mean():.2f} (of 255)")


if __name__ == "__main__":
    main()
