"""Ray generation workers on the demo model, measured side by side in one run:

(a) throughput of two CPU workers (one torch thread each) over one worker, jobs fed by the app's queue order;
(b) per-job overhead of the Ray path (WorkerPool.generate: send the request, poll progress, get the pictures)
    over drawing in-process (engine.generation.generate), one thread each, interleaved job by job.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_workers.py [--jobs 8] [--steps 20]

Runs at nice 10 (Ray's processes inherit it). Prints the figures; copy them to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # listen on 127.0.0.1 only


def demo_request(seed: int, steps: int):
    from modules.core.requests import GenerationRequest

    return GenerationRequest(prompt="a large red circle on a blue background", seed=seed, checkpoint="demo-shapes",
                             width=48, height=48, steps=steps, cfg_scale=5.0, sampler="Euler a")


def make_pool(ray, settings, workers: int):
    from modules.service.workers.pool import PoolOptions, WorkerPool
    from modules.service.workers.runtime import runtime_env, worker_config

    pool = WorkerPool(ray, worker_config(settings), options=PoolOptions(
        kind="cpu", threads=1, max_workers=workers, poll_seconds=0.1, runtime_env=runtime_env()))
    pool.start(wait=True)
    assert pool.alive_count() == workers, pool.workers()
    return pool


def run_parallel(pool, requests) -> float:
    """Seconds to draw all `requests` with one feeding thread per worker (as the queue's slots do)."""
    pending = list(requests)
    lock = threading.Lock()

    def feed() -> None:
        while True:
            with lock:
                if not pending:
                    return
                request = pending.pop(0)
            pool.generate(request)

    threads = [threading.Thread(target=feed) for _ in range(pool.alive_count())]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="jobs per side of (a); (b) runs this many pairs")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if os.nice(0) < 10:
        os.nice(10 - os.nice(0))

    import torch

    from modules.core.settings import REPO_ROOT, settings_from_args
    from modules.engine.generation import generate
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry
    from modules.service.workers.runtime import init_ray

    settings = settings_from_args(["--models-dir", str(REPO_ROOT / "models"), "--workers", "2"])
    torch.set_num_threads(1)
    from modules.engine.devices import choose_device

    device = choose_device("auto", "auto")
    local = ModelManager(checkpoints_dir=settings.paths.checkpoints, vae_dir=settings.paths.vaes,
                         cache_file=Path("/tmp/bench-workers-models.json"), device=device, models_in_ram=1)
    local.refresh()
    samplers = SamplerRegistry.default()
    started = time.perf_counter()
    ray = init_ray("2", None, cpus=2, gpus=0)
    print(f"Ray runtime started in {time.perf_counter() - started:.1f} s; device {device.device} {device.dtype}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)

    # (b) first, with one worker: the same request in-process and on the worker, alternating.
    one = make_pool(ray, settings, 1)
    generate(demo_request(0, args.steps), local, samplers)  # warm-ups: model loaded on both sides
    one.generate(demo_request(0, args.steps))
    inproc, remote = [], []
    for n in range(args.jobs):
        request = demo_request(100 + n, args.steps)
        sides = [("local", lambda r=request: generate(r, local, samplers)), ("ray", lambda r=request: one.generate(r))]
        for name, call in sides if n % 2 == 0 else sides[::-1]:
            t = time.perf_counter()
            call()
            (inproc if name == "local" else remote).append(time.perf_counter() - t)
    local.unload_all()
    t_local, t_ray = statistics.median(inproc), statistics.median(remote)
    print(f"(b) per job, median of {args.jobs}: in-process {t_local * 1000:.0f} ms, Ray worker {t_ray * 1000:.0f} ms; "
          f"overhead {(t_ray - t_local) * 1000:+.0f} ms = {100 * (t_ray - t_local) / t_local:+.1f} % of a job",
          flush=True)

    # (a) one worker, then two: the same number of jobs each.
    t_one = run_parallel(one, [demo_request(200 + n, args.steps) for n in range(args.jobs)])
    one.stop()
    two = make_pool(ray, settings, 2)
    for _ in range(2):  # warm up both workers (each loads the model once)
        run_parallel(two, [demo_request(1, args.steps), demo_request(2, args.steps)])
    t_two = run_parallel(two, [demo_request(300 + n, args.steps) for n in range(args.jobs)])
    two.stop()
    ray.shutdown()
    print(f"(a) {args.jobs} jobs: one worker {t_one:.1f} s ({args.jobs / t_one:.2f} jobs/s), two workers {t_two:.1f} s "
          f"({args.jobs / t_two:.2f} jobs/s); throughput two over one = {t_one / t_two:.2f}x (goal >= 1.6)",
          flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f} (other processes share this machine)")


if __name__ == "__main__":
    main()
