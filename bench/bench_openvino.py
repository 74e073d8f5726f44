"""OpenVINO against our CPU path: one UNet call (a CFG step, batch 2) converted with the `openvino` package, timed
side by side with the app's bf16 + channels_last torch path, with the largest difference of each from float32.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_openvino.py [--size 256] [--rounds 3] [--threads 2]

The UNet is SD 1.5's architecture (our offline config) with random weights: cost does not depend on the weights,
and both sides compute the same function of them. It is converted once with `openvino.convert_model` from the
float32 module (an offline conversion, as a `--backend openvino` would do when a model is loaded), compiled for
the CPU with the precision hint asked (`--ov-precision`, bf16 by default: the CPU computes it natively), then
calls alternate between the two sides after a warm-up each, so a busy machine slows both alike (medians shown).

openvino is not one of the app's dependencies (the figures decide, bench/RESULTS.md). Without it this prints
how to install it and exits cleanly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OPENVINO_TELEMETRY", "0")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "modules" / "engine" / "models" / "configs" / "sd1"
OPENVINO_PIN = "openvino==2026.4.1"  # the version measured in bench/RESULTS.md


def _import_openvino():
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="picture side in pixels (latents are size/8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ov-precision", default="bf16", choices=("bf16", "f32"),
                        help="OpenVINO's INFERENCE_PRECISION_HINT on the CPU")
    parser.add_argument("--config", type=Path, default=CONFIG,
                        help="a diffusers folder whose unet/config.json is built (default: SD 1.5's)")
    args = parser.parse_args()

    ov = _import_openvino()
    if ov is None:
        print(f"Skipped: the openvino package is not installed (it is not an app dependency). For this bench only:\n"
              f"  .venv/bin/python -m pip install {OPENVINO_PIN}")
        return

    import warnings

    import torch
    from diffusers import UNet2DConditionModel

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # the trace's shape checks, as expected

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(args.config, subfolder="unet")).eval()
    side = args.size // 8
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(2, unet.config.in_channels, side, side, generator=generator)
    timestep = torch.tensor(500, dtype=torch.int64)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=generator)

    class Call(torch.nn.Module):  # the UNet as one tensor -> tensor function, which convert_model can trace
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x, t, c):
            return self.inner(x, t, c, return_dict=False)[0]

    with torch.no_grad():
        reference = Call(unet)(sample, timestep, context).float()  # float32: what both sides are compared with
        started = time.perf_counter()
        converted = ov.convert_model(Call(unet), example_input=(sample, timestep, context))
        convert_seconds = time.perf_counter() - started
    converted.reshape({0: list(sample.shape), 1: [], 2: list(context.shape)})  # static shapes, as a job has
    core = ov.Core()
    started = time.perf_counter()
    compiled = core.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": args.ov_precision,
                                                     "INFERENCE_NUM_THREADS": args.threads, "NUM_STREAMS": 1,
                                                     "PERFORMANCE_HINT": "LATENCY"})
    compile_seconds = time.perf_counter() - started
    del converted
    request = compiled.create_infer_request()
    inputs = [sample.numpy(), timestep.numpy(), context.numpy()]

    # Ours: the app's CPU path (engine/placement.py): bf16 weights in channels_last.
    unet.to(torch.bfloat16, memory_format=torch.channels_last)
    ours_inputs = (sample.to(torch.bfloat16), timestep, context.to(torch.bfloat16))

    def call_ours():
        with torch.no_grad():
            return unet(*ours_inputs, return_dict=False)[0].float()

    def call_openvino():
        request.infer(inputs)
        return torch.from_numpy(request.get_output_tensor(0).data.copy()).float()

    times: dict[str, list[float]] = {"ours": [], "openvino": []}
    outputs = {"ours": call_ours(), "openvino": call_openvino()}  # warm-up, and the outputs compared
    for round_ in range(args.rounds):
        order = ("ours", "openvino") if round_ % 2 == 0 else ("openvino", "ours")
        for name in order:
            started = time.perf_counter()
            (call_ours if name == "ours" else call_openvino)()
            times[name].append(time.perf_counter() - started)
    ours, openvino = statistics.median(times["ours"]), statistics.median(times["openvino"])
    scale = reference.abs().max().item()
    name = "SD 1.5 UNet (random weights)" if args.config == CONFIG else f"UNet of {args.config}"
    print(f"{name}, one CFG call (batch 2) at {args.size} px, {args.threads} thread(s), "
          f"openvino {ov.__version__.split('-')[0]}, torch {torch.__version__}; {args.rounds} alternating rounds, "
          "medians")
    print(f"  conversion {convert_seconds:.1f} s, OpenVINO compile {compile_seconds:.1f} s "
          f"(precision {compiled.get_property('INFERENCE_PRECISION_HINT')})")
    print(f"{'':<34}{'s per call':>11}{'max |diff| from fp32':>22}")
    for label, name, seconds in (("ours (torch bf16 + channels_last)", "ours", ours),
                                 (f"OpenVINO ({args.ov_precision} hint)", "openvino", openvino)):
        diff = (outputs[name] - reference).abs().max().item()
        print(f"{label:<34}{seconds:>11.3f}{diff:>14.4f} ({diff / scale:.1%})")
    print(f"  each round, ours: {', '.join(f'{t:.2f}' for t in times['ours'])}; "
          f"openvino: {', '.join(f'{t:.2f}' for t in times['openvino'])}")
    diff = (outputs["openvino"] - outputs["ours"]).abs().max().item()
    print(f"OpenVINO / ours: time x{openvino / ours:.2f} ({ours / openvino:.2f}x the speed); max |OpenVINO - ours| "
          f"{diff:.4f}; output range ±{scale:.2f}; peak RSS {_peak_rss_gib():.1f} GiB")


if __name__ == "__main__":
    sys.exit(main())
