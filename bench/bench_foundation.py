"""Foundation benchmark: our core against bare diffusers, side by side in one run.

Measured on the same model, size, steps and seed, interleaved so that a busy CPU slows both sides alike:

(a) txt2img: ``modules.engine.generation.generate`` (through the ModelManager) over a bare ``pipe(...)`` call on the
    very same pipeline object, with the same initial noise and the Euler scheduler. Goal: ratio <= 1.05.
(b) checkpoint switching: ``ModelManager.load`` of a checkpoint already in RAM (models_in_ram=2) over a load
    from disk (models_in_ram=1, each switch reloads); and our load from disk over a bare
    ``StableDiffusionPipeline.from_single_file(path, config=configs/sd1, local_files_only=True, dtype=...)``
    followed by ``.to(device)``. Goal for the latter: ratio <= 1.05.

The models are two full SD 1.5-architecture checkpoints with random weights (fp16 .safetensors in the original
single-file layout, ~2.1 GB each), built once in ``--workdir`` and reused. Nothing is downloaded.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_foundation.py

Memory: at most two full pipelines are alive at once (~2.1 GB each in bf16, plus conversion buffers while a
load runs); peak RSS is printed at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

CHECKPOINTS = ("bench-a.safetensors", "bench-b.safetensors")
GOAL = 1.05
CACHED_GOAL = 0.05  # a switch to a model in RAM should cost a tiny fraction of a reload


# ------------------------------------------------------------------------------------------------ helpers


@dataclass
class Row:
    metric: str
    ours: float  # seconds (median)
    bare: float  # seconds (median)
    goal: float
    cpu_ratio: float | None = None  # ratio of median process CPU times, less sensitive to a shared CPU
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.bare

    @property
    def passed(self) -> bool:
        return self.ratio <= self.goal


@dataclass
class Sample:
    wall: float
    cpu: float


def timed(fn: Callable[[], object]) -> tuple[Sample, object]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = fn()
    return Sample(time.perf_counter() - wall0, time.process_time() - cpu0), result


def median_wall(samples: list[Sample]) -> float:
    return statistics.median(s.wall for s in samples)


def median_cpu(samples: list[Sample]) -> float:
    return statistics.median(s.cpu for s in samples)


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def free_memory() -> None:
    from modules.engine.models.manager import release_memory

    release_memory()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------------ machine


def machine_info(threads: int, device: object) -> list[tuple[str, str]]:
    import diffusers
    import transformers

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first CPU's values
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    model = (f"{fields.get('model name', 'unknown')}, "
             f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}")
    if "hypervisor" in flags:
        model += ", virtual machine"
    features = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    if "avx512_bf16" in flags and "amx_bf16" not in flags:
        features.append("no AMX")
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    load = os.getloadavg()
    return [
        ("CPU", f"{model} ({', '.join(features) or 'no AVX-512/AMX'})"),
        ("cores", f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable"),
        ("RAM", f"{mem_kb / 1024**2:.1f} GB"),
        ("load average at start", f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)"),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("diffusers / transformers", f"{diffusers.__version__} / {transformers.__version__}"),
        ("device / dtype", f"{device.device} / {str(device.dtype).removeprefix('torch.')} ({device.reason})"),
        ("torch threads", f"{threads} intra-op (torch.set_num_threads), chosen by --threads"),
    ]


# ------------------------------------------------------------------------------------------------ fixtures


def build_checkpoints(folder: Path) -> list[Path]:
    """Two full SD 1.5-architecture checkpoints with random weights, original layout, fp16; reused if present."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from modules.engine.models import single_file as sf
    from tests.fixtures.original_layout import write_original_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    config = sf.config_dir(sf.ModelFamily("sd1", "SD 1.x"))
    paths = []
    for seed, name in enumerate(CHECKPOINTS):
        path = folder / name
        paths.append(path)
        if path.is_file():
            log(f"reusing {path} ({path.stat().st_size / 1024**3:.2f} GB)")
            continue
        log(f"building {path} (random SD 1.5 architecture, seed {seed}) ...")
        started = time.perf_counter()
        torch.manual_seed(seed)
        pipe = StableDiffusionPipeline(
            unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(config), subfolder="unet")),
            vae=AutoencoderKL.from_config(AutoencoderKL.load_config(str(config), subfolder="vae")),
            text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(str(config), subfolder="text_encoder")),
            tokenizer=sf.load_tokenizer(config / "tokenizer"),
            scheduler=sf._scheduler(config, sf.ModelFamily("sd1", "SD 1.x")),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.to(torch.float16)  # halves the RAM held while writing
        tmp = path.with_name(path.name + ".partial.safetensors")
        write_original_checkpoint(pipe, tmp)
        os.replace(tmp, path)  # a killed build never leaves a truncated checkpoint behind
        del pipe
        free_memory()
        log(f"built {path.name} in {time.perf_counter() - started:.0f} s")
    return paths


def make_manager(workdir: Path, device: object, models_in_ram: int):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=workdir / "Stable-diffusion", vae_dir=workdir / "VAE",
                           cache_file=workdir / "model-cache.json", device=device, models_in_ram=models_in_ram)
    manager.refresh()
    return manager


# ------------------------------------------------------------------------------------------------ (a) txt2img


def bench_txt2img(args: argparse.Namespace, workdir: Path, device: object) -> list[Row]:
    from diffusers import EulerDiscreteScheduler

    from modules.core.requests import GenerationRequest
    from modules.engine.generation import generate
    from modules.engine.samplers import SamplerRegistry

    width, height = args.size
    manager = make_manager(workdir, device, models_in_ram=1)
    info = manager.resolve(CHECKPOINTS[0])
    log(f"(a) loading {info.name} through the ModelManager ...")
    loaded = manager.load(info)
    pipe = loaded.pipe  # the very object generate() will use
    samplers = SamplerRegistry.default()
    request = GenerationRequest(prompt=args.prompt, negative_prompt="", checkpoint=info.name, sampler="Euler",
                                schedule_type="Automatic", steps=args.steps, cfg_scale=args.cfg, width=width,
                                height=height, seed=args.seed)
    bare_scheduler = EulerDiscreteScheduler.from_config(loaded.scheduler_config)
    factor = pipe.vae_scale_factor
    shape = (1, pipe.vae.config.latent_channels, height // factor, width // factor)

    def bare() -> object:
        pipe.scheduler = bare_scheduler  # generate() installs its own scheduler on the shared pipeline
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed))  # = make_noise for 1 image
        return pipe(prompt=args.prompt, num_inference_steps=args.steps, guidance_scale=args.cfg, height=height,
                    width=width, generator=torch.Generator().manual_seed(args.seed),
                    latents=noise.to(pipe.unet.device, pipe.unet.dtype), output_type="pil").images[0]

    def ours() -> object:
        return generate(request, manager, samplers).images[0]

    log(f"(a) warm-up: one bare call and one generate() ({width}x{height}, {args.steps} Euler steps) ...")
    bare_image = bare()
    our_image = ours()
    same = np.array_equal(np.asarray(bare_image), np.asarray(our_image))
    log(f"(a) same image from both: {same}")
    bare_times: list[Sample] = []
    our_times: list[Sample] = []
    for rep in range(args.repeats):
        order = [("bare", bare, bare_times), ("ours", ours, our_times)]
        if rep % 2:
            order.reverse()  # alternate who goes first, so drift in CPU contention hits both alike
        for label, fn, out in order:
            sample, _ = timed(fn)
            out.append(sample)
            log(f"(a) rep {rep + 1}/{args.repeats} {label}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU")
    del pipe, loaded, manager
    free_memory()
    return [Row(f"(a) txt2img {width}x{height}, {args.steps} steps Euler: generate() / bare pipe()",
                median_wall(our_times), median_wall(bare_times), GOAL,
                median_cpu(our_times) / median_cpu(bare_times),
                note=f"identical images: {'yes' if same else 'NO'}")]


# ------------------------------------------------------------------------------------------------ (b) loading


def bench_cached_switch(args: argparse.Namespace, workdir: Path, device: object) -> list[Sample]:
    manager = make_manager(workdir, device, models_in_ram=2)
    infos = [manager.resolve(name) for name in CHECKPOINTS]
    log("(b) cached switch: loading both checkpoints into a models_in_ram=2 manager ...")
    for info in infos:
        sample, _ = timed(lambda info=info: manager.load(info))
        log(f"(b) first load of {info.name}: {sample.wall:.2f} s")
    samples = []
    for rep in range(args.repeats):
        for info in infos:  # the other one each time: A is cached while B is current, and so on
            sample, loaded = timed(lambda info=info: manager.load(info))
            assert loaded.info.path == info.path
            samples.append(sample)
    log(f"(b) cached switches: {', '.join(fmt_seconds(s.wall) for s in samples)}")
    del manager, infos
    free_memory()
    return samples


def bench_disk_load(args: argparse.Namespace, workdir: Path, device: object, paths: list[Path]
                    ) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """Cold loads, interleaved: ours (ModelManager.load, models_in_ram=1) and bare, each with no other model in RAM.

    Before each of our loads the manager is emptied (untimed, but measured: that is what freeing the previous
    model costs in a switch), so our load has nothing to evict and both sides start from the same memory state.
    Returns (ours, bare, free) samples.
    """
    from diffusers import StableDiffusionPipeline

    from modules.engine.models.single_file import ModelFamily, config_dir

    config = str(config_dir(ModelFamily("sd1", "SD 1.x")))

    def bare_load(path: Path) -> object:
        pipe = StableDiffusionPipeline.from_single_file(str(path), config=config, local_files_only=True,
                                                        dtype=device.dtype)
        return pipe.to(device.device)

    manager = make_manager(workdir, device, models_in_ram=1)
    infos = [manager.resolve(name) for name in CHECKPOINTS]
    log("(b) disk load: warm-up (ours loads A, bare loads B; both files are then in the page cache) ...")
    sample, _ = timed(lambda: manager.load(infos[0]))
    log(f"(b) warm-up ours {infos[0].name}: {sample.wall:.2f} s")
    manager.unload_all()
    sample, pipe = timed(lambda: bare_load(paths[1]))
    log(f"(b) warm-up bare {paths[1].name}: {sample.wall:.2f} s")
    del pipe
    free_memory()

    ours: list[Sample] = []
    bare: list[Sample] = []
    frees: list[Sample] = []
    for rep in range(args.repeats):
        target = (rep + 1) % 2  # B, A, B, ...: the same file for both sides in a repetition

        def run_ours() -> None:
            sample, loaded = timed(lambda: manager.load(infos[target]))
            assert loaded.info.path == infos[target].path and manager.loaded_names() == [str(paths[target])]
            ours.append(sample)
            log(f"(b) rep {rep + 1}/{args.repeats} ours {infos[target].name}: {sample.wall:.2f} s wall, "
                f"{sample.cpu:.2f} s CPU, RSS now {rss_gb():.1f} GB")
            del loaded
            free, _ = timed(manager.unload_all)  # gc + malloc_trim, as an eviction does inside a switch
            frees.append(free)

        def run_bare() -> None:
            sample, pipe = timed(lambda: bare_load(paths[target]))
            bare.append(sample)
            log(f"(b) rep {rep + 1}/{args.repeats} bare {paths[target].name}: {sample.wall:.2f} s wall, "
                f"{sample.cpu:.2f} s CPU, RSS now {rss_gb():.1f} GB")
            del pipe
            free_memory()

        for step in ((run_bare, run_ours) if rep % 2 == 0 else (run_ours, run_bare)):
            step()
    del manager, infos
    free_memory()
    return ours, bare, frees


# ------------------------------------------------------------------------------------------------ main


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    size = (int(width), int(height or width))
    if any(v % 8 or v <= 0 for v in size):
        raise argparse.ArgumentTypeError(f"size must be multiples of 8, like 256 or 512x384; got {text!r}")
    return size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sdwebui-bench"),
                        help="where the two random checkpoints (~4.3 GB) are built once and reused")
    parser.add_argument("--size", type=parse_size, default=(256, 256), help="WIDTHxHEIGHT or one number")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cfg", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--prompt", default="a lighthouse on a cliff at dusk, oil painting")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per side (medians reported)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 by default because another job shares this CPU")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (modules.engine.devices)")
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16 or bf16 (modules.engine.devices)")
    parser.add_argument("--only", choices=("all", "txt2img", "load"), default="all")
    return parser.parse_args(argv)


def print_table(rows: list[Row]) -> None:
    header = ("metric", "ours", "bare", "ratio", "CPU-time ratio", "goal", "result")
    lines = [header]
    for row in rows:
        lines.append((row.metric, fmt_seconds(row.ours), fmt_seconds(row.bare), f"{row.ratio:.3g}",
                      "-" if row.cpu_ratio is None else f"{row.cpu_ratio:.3g}", f"<= {row.goal:g}",
                      "PASS" if row.passed else "FAIL"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    for row in rows:
        if row.note:
            print(f"  note, {row.metric.split(':')[0]}: {row.note}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass  # already set
    import diffusers
    from transformers.utils import logging as hf_logging

    from modules.engine.devices import choose_device

    hf_logging.set_verbosity_error()
    diffusers.utils.logging.set_verbosity_error()  # the same quiet for both sides: no progress bars or notices
    diffusers.utils.logging.disable_progress_bar()
    device = choose_device(args.device, args.precision)
    workdir = args.workdir
    print("== Machine ==")
    for key, value in machine_info(args.threads, device):
        print(f"  {key:26} {value}")
    print(f"  {'command':26} {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  {'note':26} timings are wall-clock medians of {args.repeats} interleaved runs per side; the CPU may be "
          "shared with another job (see load average), so read the ratios, not the absolute seconds.")
    print(flush=True)

    paths = build_checkpoints(workdir / "Stable-diffusion")
    (workdir / "VAE").mkdir(exist_ok=True)
    started = time.perf_counter()
    rows: list[Row] = []
    if args.only in ("all", "txt2img"):
        rows += bench_txt2img(args, workdir, device)
        log(f"RSS after (a): {rss_gb():.1f} GB, peak so far {peak_rss_gb():.1f} GB")
    if args.only in ("all", "load"):
        cached = bench_cached_switch(args, workdir, device)
        ours, bare, frees = bench_disk_load(args, workdir, device, paths)
        rows.append(Row("(b1) switch to a cached checkpoint / reload from disk (ours)",
                        median_wall(cached), median_wall(ours), CACHED_GOAL, median_cpu(cached) / median_cpu(ours),
                        note="'bare' column = our cold load from disk (models_in_ram=1); the cached side holds both "
                             "checkpoints in RAM (models_in_ram=2). A disk switch also frees the previous model: "
                             f"{fmt_seconds(median_wall(frees))} wall median (manager.unload_all: gc + malloc_trim)"))
        rows.append(Row(f"(b2) load from disk: ModelManager.load / bare from_single_file+.to ({device.dtype})",
                        median_wall(ours), median_wall(bare), GOAL, median_cpu(ours) / median_cpu(bare),
                        note="fp16 file converted to the run's dtype by both, no other model in RAM during either "
                             "load; ours also converts the UNet and VAE to channels_last. The files sit in the OS "
                             "page cache after the warm-up, so these are warm-cache loads for both sides (a truly "
                             "cold read from disk would add the same I/O time to both)"))
    print()
    print(f"== Results ({time.strftime('%Y-%m-%d %H:%M')}, {fmt_seconds(time.perf_counter() - started)} of benchmarks, "
          f"peak RSS {peak_rss_gb():.1f} GB, load average now {os.getloadavg()[0]:.2f}) ==")
    print_table(rows)
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
