"""The head's side of the Ray workers: which workers exist, which one draws a job, and what a fault costs.

The job queue (jobs.py) stays the one scheduler: it picks the next job fairly and hands it to the Processor,
which runs hooks and saving here on the head and calls `WorkerPool.generate` where it would call the engine.
The pool then chooses, among the free workers that can see the job's checkpoint, one that already holds it in
RAM (else the one idle longest), streams progress, previews and finished pictures back into the job's
JobControl while it runs, and passes Interrupt and Skip on. A worker that dies mid-job (its process killed)
costs the job one retry on another worker with the same request, so the same seeds and the same pictures;
a second loss fails the job with a message that says so. A maintenance thread keeps as many workers as the
Ray cluster offers slots for: a machine that joins gets workers, a dead worker's slot gets a new one.

`ray` is passed in (runtime.py imports it): importing this module does not import ray.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.core.prompts import extract_loras
from modules.core.results import GenerationResult, JobControl
from modules.engine.worker import GenerationWorker, Progress, WorkerConfig, WorkerStatus

log = logging.getLogger(__name__)

CPU_SLOT = "webui_worker"  # the custom Ray resource a CPU worker takes: `ray start --resources='{"webui_worker": 1}'`


class WorkerLost(RuntimeError):
    """The worker's process ended (killed, crashed, its machine left) while it held a job."""


@dataclass
class WorkerInfo:
    """One worker as GET /api/v1/workers and the admin panel show it."""

    name: str
    host: str
    device: str
    dtype: str
    memory_used: int
    memory_total: int
    loaded: list[str]
    current_job: str | None
    jobs_done: int
    last_error: str | None
    alive: bool
    remote: bool = True  # False: the in-process worker of an instance without --workers


@dataclass
class _Worker:
    name: str
    actor: Any
    status: WorkerStatus
    busy: bool = False
    alive: bool = True
    current_job: str | None = None
    jobs_done: int = 0
    last_error: str | None = None
    last_used: float = 0.0  # when it last finished a job: ties go to the one idle longest

    def info(self) -> WorkerInfo:
        s = self.status
        return WorkerInfo(name=self.name, host=s.host, device=s.device, dtype=s.dtype, memory_used=s.memory_used,
                          memory_total=s.memory_total, loaded=list(s.loaded), current_job=self.current_job,
                          jobs_done=self.jobs_done, last_error=self.last_error, alive=self.alive)


@dataclass
class PoolOptions:
    """How the pool runs. `kind` "gpu": one worker per Ray GPU (num_gpus=1 each); "cpu": one per CPU slot."""

    kind: str = "cpu"
    threads: int = 0  # torch threads of a CPU worker (0: torch's default)
    max_workers: int | None = None  # None: as many as the cluster has slots for
    poll_seconds: float = 0.1  # how often a running job's progress is fetched
    wait_for_worker: float = 120.0  # how long a job waits for a worker to exist before failing
    maintain_seconds: float = 2.0  # how often joins and losses are looked for
    runtime_env: dict[str, Any] = field(default_factory=dict)


class WorkerPool:
    def __init__(self, ray: Any, config: WorkerConfig, *, options: PoolOptions | None = None,
                 resolve: Callable[[str | None], str] = lambda name: name or "",
                 job_options: Callable[[], dict[str, Any]] = dict,
                 on_change: Callable[[int], None] | None = None) -> None:
        """`resolve`: the head's checkpoint query -> checkpoint name (what workers report they can see).
        `job_options`: the UI settings a job needs (tile sizes...), read at each job.
        `on_change(n)`: called with the number of live workers whenever it changes (the queue's slots)."""
        self._ray = ray
        self._config = config
        self.options = options or PoolOptions()
        self._resolve = resolve
        self._job_options = job_options
        self._on_change = on_change
        self._cond = threading.Condition()
        self._workers: dict[str, _Worker] = {}
        self._starting = 0
        self._names = itertools.count(1)
        self._actor_class: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait: bool = True, timeout: float = 300.0) -> None:
        """Start a worker for every free slot; with `wait`, return once they are ready (or `timeout`)."""
        self._actor_class = self._ray.remote(GenerationWorker)
        self._maintain_once()
        if wait:
            deadline = time.monotonic() + timeout
            with self._cond:
                while self._starting and time.monotonic() < deadline:
                    self._cond.wait(0.5)
        self._thread = threading.Thread(target=self._maintain, name="ray-workers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._cond:
            workers = list(self._workers.values())
            self._workers.clear()
            self._cond.notify_all()
        for worker in workers:
            try:
                self._ray.kill(worker.actor)
            except Exception:  # already gone
                log.debug("worker %s was already gone at stop", worker.name)

    def workers(self) -> list[WorkerInfo]:
        with self._cond:
            return [w.info() for w in self._workers.values()]

    def alive_count(self) -> int:
        with self._cond:
            return sum(w.alive for w in self._workers.values())

    # ------------------------------------------------------------------ joins and losses
    def _slots(self) -> int:
        """Worker slots the cluster offers now (alive nodes only), capped by max_workers."""
        key = "GPU" if self.options.kind == "gpu" else CPU_SLOT
        total = int(self._ray.cluster_resources().get(key, 0))
        return total if self.options.max_workers is None else min(total, self.options.max_workers)

    def _maintain(self) -> None:
        while not self._stopping.wait(self.options.maintain_seconds):
            try:
                self._maintain_once()
            except Exception:  # the pool keeps serving with the workers it has; the next round tries again
                log.exception("workers: looking for joined or lost workers failed")

    def _maintain_once(self) -> None:
        with self._cond:
            idle = [w for w in self._workers.values() if w.alive and not w.busy]
        for worker in idle:  # a busy worker's loss is seen by the job it runs
            self._check_alive(worker)
        with self._cond:
            missing = self._slots() - sum(w.alive for w in self._workers.values()) - self._starting
            self._starting += max(0, missing)
        for _ in range(max(0, missing)):
            threading.Thread(target=self._add_worker, name="ray-worker-start", daemon=True).start()

    def _check_alive(self, worker: _Worker) -> None:
        try:
            status = self._ray.get(worker.actor.status.remote(), timeout=30)
        except self._ray.exceptions.GetTimeoutError:
            return  # slow, not gone
        except Exception as exc:
            self._lose(worker, f"stopped answering: {type(exc).__name__}")
            return
        with self._cond:
            worker.status = status

    def _add_worker(self) -> None:
        name = f"worker-{next(self._names)}"
        # Its own cache of model hashes: workers of one machine would otherwise write one file at once.
        config = WorkerConfig(**{**self._config.__dict__, "name": name, "threads": self.options.threads,
                                 "cache_file": self._config.cache_file.with_name(f"models-{name}.json")})
        resources = {"num_gpus": 1, "num_cpus": 1} if self.options.kind == "gpu" else \
            {"num_cpus": 0, "resources": {CPU_SLOT: 1}}
        actor = None
        try:
            actor = self._actor_class.options(name=None, max_concurrency=4, max_restarts=0,
                                              runtime_env=self.options.runtime_env or None,
                                              **resources).remote(config)
            status = self._ray.get(actor.status.remote(), timeout=600)
        except Exception as exc:
            log.error("workers: %s could not start: %s", name, exc)
            if actor is not None:
                self._kill(actor)
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            return
        with self._cond:
            self._starting -= 1
            if self._stopping.is_set():
                self._kill(actor)
                return
            self._workers[name] = _Worker(name=name, actor=actor, status=status, last_used=time.monotonic())
            count = sum(w.alive for w in self._workers.values())
            self._cond.notify_all()
        log.info("workers: %s joined on %s (%s, %s); %d worker(s) now", name, status.host, status.device,
                 status.dtype, count)
        self._changed(count)

    def _kill(self, actor: Any) -> None:
        try:
            self._ray.kill(actor)
        except Exception:
            log.debug("workers: an actor was already gone")

    def _lose(self, worker: _Worker, why: str) -> None:
        with self._cond:
            if not worker.alive:
                return
            worker.alive, worker.busy, worker.current_job = False, False, None
            worker.last_error = why
            # Kept a while in the listing (marked dead) so an admin sees what happened; dropped at the next loss.
            for name in [n for n, w in self._workers.items() if not w.alive and n != worker.name]:
                del self._workers[name]
            count = sum(w.alive for w in self._workers.values())
            self._cond.notify_all()
        log.warning("workers: %s left the rotation (%s); %d worker(s) remain", worker.name, why, count)
        self._kill(worker.actor)
        self._changed(count)

    def _changed(self, count: int) -> None:
        if self._on_change is not None:
            self._on_change(count)

    # ------------------------------------------------------------------ routing
    def _acquire(self, checkpoint: str, loras: list[str], job_id: str, exclude: set[str]) -> _Worker:
        """A free worker that can see `checkpoint`, one holding it in RAM first; waits while all are busy."""
        deadline = time.monotonic() + self.options.wait_for_worker
        refreshed = False
        with self._cond:
            while True:
                alive = [w for w in self._workers.values() if w.alive and w.name not in exclude]
                able = [w for w in alive if checkpoint in w.status.checkpoints]
                if alive and not able and not refreshed:
                    self._cond.release()  # a file copied to a machine since: ask them to look again
                    try:
                        self._refresh(alive)
                    finally:
                        self._cond.acquire()
                    refreshed = True
                    continue
                if alive and not able:
                    raise LookupError(
                        f"No worker can see checkpoint {checkpoint!r} ({', '.join(w.name for w in alive)} looked in "
                        f"{self._config.checkpoints_dir}). Put the file in the shared models folder that every "
                        "worker machine mounts at that path, then submit the job again.")
                free = [w for w in able if not w.busy]
                if free:
                    # The checkpoint in RAM first (a load costs seconds to minutes), then the LoRAs on its disk.
                    worker = max(free, key=lambda w: (checkpoint in w.status.loaded,
                                                      sum(name in w.status.loras for name in loras), -w.last_used))
                    worker.busy, worker.current_job = True, job_id or "(job)"
                    return worker
                if not alive and not self._starting and time.monotonic() > deadline:
                    left = " (it could not run this job)" if exclude else ""
                    raise RuntimeError(f"No generation worker is running{left}: every worker stopped. Check the "
                                       "workers' machines and the log, then submit the job again.")
                self._cond.wait(0.5)

    def _refresh(self, workers: list[_Worker]) -> None:
        for worker in workers:
            try:
                status = self._ray.get(worker.actor.refresh.remote(), timeout=60)
            except Exception as exc:
                log.warning("workers: %s could not rescan its models: %s", worker.name, exc)
                continue
            with self._cond:
                worker.status = status

    def _release(self, worker: _Worker, error: str | None) -> None:
        try:
            status = self._ray.get(worker.actor.status.remote(), timeout=30) if worker.alive else None
        except Exception:
            status = None  # its loss is found by the maintenance thread
        with self._cond:
            worker.busy, worker.current_job, worker.last_used = False, None, time.monotonic()
            if status is not None:
                worker.status = status
            if error is None:
                worker.jobs_done += 1
            else:
                worker.last_error = error
            self._cond.notify_all()

    # ------------------------------------------------------------------ running a job
    def generate(self, request: Any, models: Any = None, samplers: Any = None, control: JobControl | None = None,
                 *_head_registries: Any, vae_tiling: str = "auto", preview_method: str = "TAESD",
                 **_head_objects: Any) -> GenerationResult:
        """engine.generation.generate, on a worker: the same request (seeds resolved) gives the same pictures
        anywhere. Called as the Processor calls the engine; the head's model manager, registries, TAESD
        decoders and face detectors are not sent: a worker builds its own from the same folders."""
        control = control or JobControl()
        checkpoint = self._resolve(request.checkpoint)
        job_id = getattr(control, "job_id", "") or ""
        lost: list[str] = []
        while True:
            worker = self._acquire(checkpoint, lora_names(request.prompt), job_id, set(lost))
            error: str | None = None
            try:
                result = self._run_on(worker, request, control, {"vae_tiling": vae_tiling,
                                                                         "preview_method": preview_method})
                result.worker = worker.name
                return result
            except WorkerLost as exc:
                error = str(exc)
                self._lose(worker, error)
                lost.append(worker.name)
                if control.interrupt.is_set():
                    raise RuntimeError(f"The job was interrupted, and {worker.name} stopped meanwhile.") from None
                if len(lost) > 1:
                    raise RuntimeError(f"The workers {' and '.join(lost)} both stopped while drawing this job, so it "
                                       "is not tried again. Check those machines' logs (memory, drivers) and submit "
                                       "it again.") from None
                log.warning("workers: %s stopped during job %s; running it again on another worker (same seeds)",
                            worker.name, job_id)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                self._release(worker, error)

    def _run_on(self, worker: _Worker, request: Any, control: JobControl, engine_options: dict[str, str]
                ) -> GenerationResult:
        ray = self._ray
        key = uuid.uuid4().hex
        options = {**self._job_options(), **engine_options}
        ref = worker.actor.run.remote(key, request, control.preview_every, options)
        while True:
            ready, _ = ray.wait([ref], timeout=self.options.poll_seconds)
            if ready:
                break
            interrupt, skip = control.interrupt.is_set(), control.skip.is_set()
            try:
                progress = ray.get(worker.actor.poll.remote(key, interrupt, skip), timeout=30)
            except ray.exceptions.GetTimeoutError:
                continue  # busy beyond words, not gone: the run's own result tells
            except ray.exceptions.RayActorError as exc:
                raise WorkerLost(f"{worker.name} stopped: {_first_line(exc)}") from None
            if skip and progress.running:
                control.skip.clear()  # the worker has it now; it clears its own after the batch
            _forward(progress, control)
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            raise WorkerLost(f"{worker.name} stopped: {_first_line(exc)}") from None
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None  # the engine's own error (bad input, out of memory...) as the user should see it
            raise


def _forward(progress: Progress, control: JobControl) -> None:
    if control.on_image is not None:
        for index, image, seed, infotext in progress.images:
            control.on_image(index, image, seed, infotext)
    if progress.step is not None and control.on_step is not None:
        control.on_step(progress.step)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def lora_names(prompt: str) -> list[str]:
    """The LoRAs a prompt asks for: a worker whose disk has them is preferred."""
    return [tag.name for tag in extract_loras(prompt)[1]]
