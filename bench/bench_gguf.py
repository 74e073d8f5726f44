"""GGUF Q8_0 over bf16: the memory a Flux-architecture transformer takes to load, side by side in one run.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_gguf.py [--rounds 2] [--width 1024] [--double 4] [--single 8]

One random transformer (Flux's layout, narrower and shallower than Flux.1's 3072 x 19+38 so it fits this shared
machine) is written twice: as a diffusers bf16 folder (what `from_pretrained(dtype=bf16)` reads) and as a GGUF Q8_0
file (city96's layout, through tests/fixtures/tiny_gguf.py). Each load runs in a fresh Python process, the two
alternating, and reports the growth of its peak RSS over the RSS after imports (VmHWM reset through
/proc/self/clear_refs: everything the load touched, copies and mapped file pages included; every weight page is
read once after the load, as a first step would), the RSS kept, and the bytes its parameters hold. Medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
from pathlib import Path
import torch
from diffusers import FluxTransformer2DModel
from diffusers.quantizers.gguf.utils import GGUFLinear  # imported before the baseline on both sides
from modules.engine.models import gguf_files
kind, path = sys.argv[1], sys.argv[2]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current RSS: the peak of the load alone
if kind == "bf16":
    model = FluxTransformer2DModel.from_pretrained(path, dtype=torch.bfloat16, local_files_only=True)
else:
    model = gguf_files.load_transformer(Path(path), torch.bfloat16)
plain = [p.as_tensor() if hasattr(p, "as_tensor") else p.data for p in model.parameters()]  # GGUFParameter: bytes
touched = sum(float(p.reshape(-1)[:: 512].float().sum()) for p in plain)  # every weight page, as a first step
params = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"peak_growth": status("VmHWM") - base, "resident_growth": status("VmRSS") - base,
                  "param_bytes": params}))
"""


def build(folder: Path, width: int, double: int, single: int) -> tuple[Path, Path, int]:
    import torch
    from diffusers import FluxTransformer2DModel

    sys.path.insert(0, str(ROOT))
    from tests.fixtures.tiny_gguf import write_flux_gguf

    torch.manual_seed(0)
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=double, num_single_layers=single,
                                   attention_head_dim=128, num_attention_heads=width // 128, joint_attention_dim=256,
                                   pooled_projection_dim=256, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
    count = sum(p.numel() for p in model.parameters())
    bf16 = folder / "bf16"
    model.to(torch.bfloat16).save_pretrained(str(bf16), safe_serialization=True)
    q8 = folder / "q8.gguf"
    write_flux_gguf(model.float(), q8, "Q8_0")
    return bf16, q8, count


def measure(kind: str, path: Path) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], cwd=ROOT, capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise SystemExit(f"the {kind} load failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--double", type=int, default=4)
    parser.add_argument("--single", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        bf16, q8, count = build(Path(tmp), args.width, args.double, args.single)
        sizes = {"bf16": sum(f.stat().st_size for f in bf16.rglob("*") if f.is_file()), "q8": q8.stat().st_size}
        runs: dict[str, list[dict[str, int]]] = {"bf16": [], "q8": []}
        for _ in range(args.rounds):
            runs["bf16"].append(measure("bf16", bf16))
            runs["q8"].append(measure("q8", q8))
    mib = 1024 ** 2
    med = {side: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for side, rs in runs.items()}
    print(f"transformer: {count / 1e6:.0f} M parameters (width {args.width}, {args.double}+{args.single} blocks); "
          f"files: bf16 {sizes['bf16'] / mib:.0f} MiB, GGUF Q8_0 {sizes['q8'] / mib:.0f} MiB; {args.rounds} rounds")
    print(f"{'metric':<34}{'GGUF Q8_0':>12}{'bf16':>12}{'ratio':>8}")
    for key, name in (("peak_growth", "peak RSS growth of the load"), ("resident_growth", "RSS kept after the load"),
                      ("param_bytes", "bytes of the parameters")):
        q, b = med["q8"][key], med["bf16"][key]
        print(f"{name:<34}{q / mib:>9.0f} MiB{b / mib:>9.0f} MiB{q / b:>8.2f}")


if __name__ == "__main__":
    main()
