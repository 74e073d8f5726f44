"""Starting or joining the Ray runtime, and connecting the worker pool to the app's services.

Only webui.py (with --workers or --ray-address), the tests and the bench call this; `import ray` happens here,
inside the functions, so an instance without those flags never loads Ray nor starts any of its processes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from modules.core.settings import REPO_ROOT, Settings
from modules.engine.worker import WorkerConfig
from modules.service.workers.pool import CPU_SLOT, PoolOptions, WorkerPool

log = logging.getLogger(__name__)

# What a worker process needs in its environment: our code (the same checkout path on every machine), offline
# libraries, and no usage reports.
STARTS = 3  # tries at starting a local Ray runtime
_PASSED_ON = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HF_HOME")


@dataclass(frozen=True)
class RuntimePlan:
    """How many workers of which kind: decided from --workers, --ray-address and what Ray sees."""

    kind: str  # "gpu" | "cpu"
    max_workers: int | None  # None: every slot of the cluster
    threads: int  # torch threads of a CPU worker (0: torch's default)


def parse_workers(value: str | None) -> int | None:
    """--workers: "auto" (None here: one per GPU) or a positive number."""
    if value is None or value == "auto":
        return None
    count = int(value)
    if count < 1:
        raise ValueError("--workers takes 'auto' or a number of workers of at least 1")
    return count


def init_ray(workers: str | None, address: str | None, *, cpus: int | None = None,
             gpus: int | None = None) -> Any:
    """Start a local Ray runtime (no dashboard, no usage stats) or join the cluster at `address`."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:
        # A runtime of our own serves this machine only: Ray then takes the loopback address as the node's, and
        # its servers (GCS, raylet, workers) listen on 127.0.0.1 instead of every interface. Ray reads this when
        # it is imported, so it is set first. (_node_ip_address alone does not do it on Linux.)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, configure_logging=False, log_to_driver=True)
        return ray
    count = parse_workers(workers)
    for attempt in range(1, STARTS + 1):
        try:
            # The head offers CPU worker slots only when asked for N workers (or on a box without GPUs: then one).
            ray.init(address="local", include_dashboard=False, num_cpus=cpus or os.cpu_count() or 1, num_gpus=gpus,
                     resources={CPU_SLOT: count or 1}, configure_logging=False, log_to_driver=True,
                     _node_ip_address="127.0.0.1")
            return ray
        except Exception as exc:  # Ray gives its raylet 30 s to register: a busy machine can miss that
            ray.shutdown()
            if attempt == STARTS:
                raise RuntimeError(f"The local Ray runtime did not start ({exc}). Is the machine overloaded? Try "
                                   "again, or start without --workers.") from exc
            log.warning("workers: the Ray runtime did not start (%s); trying again (%d of %d)", exc, attempt + 1,
                        STARTS)
    raise AssertionError("unreachable")


def plan(ray: Any, workers: str | None, address: str | None) -> RuntimePlan:
    count = parse_workers(workers)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return RuntimePlan(kind="gpu", max_workers=min(count, gpus) if count else None, threads=0)
    if address:  # CPU machines offer slots themselves: ray start --resources='{"webui_worker": 1}'
        return RuntimePlan(kind="cpu", max_workers=count, threads=0)
    if count is None:
        log.warning("workers: --workers auto found no GPU; one CPU worker runs. Give --workers N for N CPU workers.")
    n = count or 1
    # Each CPU worker gets its share of the cores: N workers each using every core would only fight.
    return RuntimePlan(kind="cpu", max_workers=n, threads=max(1, (os.cpu_count() or 1) // n))


def worker_config(settings: Settings) -> WorkerConfig:
    p = settings.paths
    return WorkerConfig(name="", checkpoints_dir=p.checkpoints, vae_dir=p.vaes,
                        cache_file=p.cache_dir / "models.json", lora_dir=p.loras, embeddings_dir=p.embeddings,
                        controlnet_dir=p.controlnets, annotators_dir=p.annotators, upscalers_dir=p.upscalers,
                        gfpgan_dir=p.gfpgan, codeformer_dir=p.codeformer, ipadapter_dir=p.ipadapter,
                        clip_vision_dir=p.clip_vision, vae_approx_dir=p.vae_approx, adetailer_dir=p.adetailer,
                        text_encoder_dirs=p.text_encoders, unet_dirs=p.unets,
                        device=settings.device,
                        precision=settings.precision, models_in_ram=settings.models_in_ram, compile=settings.compile)


def runtime_env() -> dict[str, Any]:
    env = {"PYTHONPATH": str(REPO_ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    env.update({name: os.environ[name] for name in _PASSED_ON if name in os.environ})
    return {"env_vars": env}


def start_workers(services: Any, *, wait: bool = False, ray: Any = None, options: PoolOptions | None = None
                  ) -> WorkerPool:
    """Start (or join) Ray, start the workers, and make the app's jobs run on them: the queue gets a slot per
    live worker, the Processor draws through the pool. `services` is a Services (typed loosely: services.py
    imports nothing of this package)."""
    settings = services.settings
    ray = ray or init_ray(settings.workers, settings.ray_address)
    chosen = plan(ray, settings.workers, settings.ray_address)
    if options is None:
        options = PoolOptions(kind=chosen.kind, threads=chosen.threads, max_workers=chosen.max_workers,
                              runtime_env=runtime_env())
    ui = services.ui_settings

    def job_options() -> dict[str, Any]:
        keys = ("ESRGAN_tile", "ESRGAN_tile_overlap", "face_restoration_model", "code_former_weight",
                "face_restoration_unload")
        return {key: ui.get(key) for key in keys}

    pool = WorkerPool(ray, worker_config(settings), options=options,
                      resolve=lambda query: services.models.resolve(query).name,
                      job_options=job_options, on_change=services.jobs.set_workers)
    services.workers = pool
    services.processor.engine = pool.generate
    log.info("workers: %s, %s workers (%s)", f"joined {settings.ray_address}" if settings.ray_address else
             "local Ray runtime", chosen.max_workers or "all the cluster's", chosen.kind)
    pool.start(wait=wait)
    return pool


def stop_workers(services: Any, *, shutdown: bool = True) -> None:
    pool = services.workers
    if pool is not None:
        pool.stop()
        services.workers = None
        services.processor.engine = None
    if shutdown:
        import ray

        if ray.is_initialized():
            ray.shutdown()
