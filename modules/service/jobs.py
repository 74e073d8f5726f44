"""The job queue: every generation, from the UI or the API, is a job with an owner.

A worker thread runs jobs one at a time (one model, one device), picking users round-robin so someone
with ten queued jobs delays another user's first job by at most one job. With Ray workers (service/workers/)
the queue has one slot per worker (`set_workers`): each slot takes the next job in the same fair order. Interrupt and skip act on one
job, checked by its owner (or an admin). Finished jobs are kept for a while so a closed tab loses nothing.

With a JobStore (queue_store.py), queued jobs survive a restart: each is saved when queued, marked when it
starts, dropped when it finishes or is cancelled; `start` queues the saved ones again, in their order, before
the worker runs, and a job the process died running is run again from its start.

With a Batcher (batching.py, opt-in, for GPUs), the job picked next takes along compatible jobs of other users:
the head job of each other user's queue, in the same fair order, one per user; they run as one denoising batch.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from modules.core.results import GenerationResult, JobControl, OutOfMemory, StepInfo

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class QueueFull(Exception):
    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotAllowed(PermissionError):
    pass


@dataclass
class Job:
    id: str
    owner: str
    request: Any
    seq: int
    status: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: StepInfo | None = None
    preview: Image.Image | None = None
    result: GenerationResult | None = None
    error: str | None = None
    control: JobControl = field(default_factory=JobControl)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        if self.status in FINISHED:
            return 1.0
        return self.progress.fraction if self.progress else 0.0


KEEP_AT_LEAST = 5  # finished jobs per owner that the total bound never takes
# A runner gets the request, the job's control and the owner; it returns the result or raises.
Runner = Callable[[Any, JobControl, str], GenerationResult]
# Exceptions whose message is meant for the user as is (bad input, missing model...).
UserError = (ValueError, LookupError, PermissionError, OutOfMemory)


@dataclass(frozen=True)
class SavedJob:
    """A queued job as a JobStore keeps it across a restart."""

    id: str
    owner: str
    seq: int  # the queue's order: saved jobs are queued again by it
    request: Any
    created: float
    was_running: bool = False  # it had started when the process stopped: it runs again from its start


class JobStore(Protocol):
    """Where the queue keeps its jobs so a restart resumes them (queue_store.QueueFolder). The queue logs any
    error of the store and goes on: a job that could not be saved still runs, it only won't survive a restart."""

    def save(self, job: SavedJob) -> None:
        """The job was queued (called outside the queue's lock: encoding big input pictures takes a while)."""
        ...

    def started(self, job_id: str) -> None:
        """The job starts running; it stays saved, so a process that dies now runs it again at the next start."""
        ...

    def remove(self, job_id: str) -> None:
        """The job finished or was cancelled."""
        ...

    def requeue(self, job_id: str) -> None:
        """A shutdown cut the running job short: it waits again, as it was before it started (not a crash)."""
        ...

    def load(self) -> list[SavedJob]:
        """The saved jobs, in their order. An unreadable one is set aside with a warning, never raised."""
        ...


def _without_pictures(request: Any) -> Any:
    if getattr(request, "init_images", None) or getattr(request, "mask", None) is not None:
        return dataclasses.replace(request, init_images=(), mask=None)
    return request


class JobQueue:
    def __init__(self, runner: Runner, *, per_user_limit: int = 10, global_limit: int = 100,
                 keep_finished: int = 100, keep_total: int = 500, preview_every: int = 5,
                 store: JobStore | None = None, workers: int = 1, batcher: Any = None) -> None:
        """`keep_finished`: finished jobs kept per owner, so a closed tab or a slow client loses nothing.
        `store`: keeps the queued jobs across a restart (None: they live in memory only).
        `workers`: jobs that run at once (one per device; `set_workers` changes it as workers come and go).
        `batcher`: groups compatible jobs of different users into one batch (service/batching.py); None: never."""
        self._runner = runner
        self._store = store
        self._resumed = False  # the store's jobs were queued (at `start` or the first `submit`)
        self._reserved: Counter[str] = Counter()  # owner -> jobs being saved, not queued yet
        self.per_user_limit = per_user_limit
        self.global_limit = global_limit
        self.preview_every = preview_every
        self._keep_finished = keep_finished
        self._keep_total = keep_total
        self._cond = threading.Condition()
        self._queues: OrderedDict[str, deque[Job]] = OrderedDict()  # owner -> queued jobs
        # owner -> when they were last served (a counter): the least recently served owner goes next, so a
        # user whose job just started waits behind everyone else even if their queue emptied meanwhile.
        self._served: dict[str, int] = {}
        self._turns = itertools.count()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running: list[Job] = []
        self._slots = max(1, workers)
        self._batcher = batcher
        self._groups = 0  # groups running: a batch of several jobs takes one slot
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if not self._threads:
            self._resume()  # before the worker: the jobs saved before a restart keep their place
            self._stopping = False
            self._add_threads()

    def _add_threads(self) -> None:
        while len(self._threads) < self._slots:
            thread = threading.Thread(target=self._work, name=f"job-worker-{len(self._threads) + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def set_workers(self, count: int) -> None:
        """Run up to `count` jobs at once (at least one: a job waits in its slot for a worker to come back)."""
        with self._cond:
            self._slots = max(1, count)
            if self._threads and not self._stopping:
                self._add_threads()  # extra threads wait while the slots are fewer
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._running:
                job.control.interrupt.set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    # ------------------------------------------------------------------ submitting and reading
    def submit(self, request: Any, owner: str = "local") -> Job:
        self._resume()  # saved jobs first, so new ones are numbered after them
        with self._cond:
            # Jobs being saved count too: a burst of submissions can't pass the limits while files are written.
            queued = sum(len(q) for q in self._queues.values()) + sum(self._reserved.values())
            mine = len(self._queues.get(owner, ())) + self._reserved[owner]
            if mine >= self.per_user_limit:
                raise QueueFull(f"You already have {mine} jobs waiting (limit {self.per_user_limit}); "
                                "wait for one to finish.")
            if queued >= self.global_limit:
                raise QueueFull(f"The queue is full ({queued} jobs waiting); try again in a moment.")
            job = self._new_job(uuid.uuid4().hex[:12], owner, request, next(self._seq))
            self._reserved[owner] += 1
        try:
            self._save(job)
        finally:
            with self._cond:
                self._reserved[owner] -= 1
                if self._reserved[owner] <= 0:
                    del self._reserved[owner]
        with self._cond:
            self._enqueue(job)
            self._trim()
            return job

    def _new_job(self, job_id: str, owner: str, request: Any, seq: int, created: float | None = None) -> Job:
        job = Job(id=job_id, owner=owner, request=request, seq=seq)
        if created is not None:
            job.created = created
        job.control.preview_every = self.preview_every
        job.control.job_id = job_id  # a worker's listing names the job it runs
        job.control.on_step = lambda info, job=job: self._on_step(job, info)
        return job

    def _enqueue(self, job: Job) -> None:
        """Queue behind the owner's jobs with a lower number (two submissions may finish saving out of order)."""
        queue = self._queues.setdefault(job.owner, deque())
        place = len(queue)
        while place and queue[place - 1].seq > job.seq:
            place -= 1
        queue.insert(place, job)
        self._jobs[job.id] = job
        self._cond.notify_all()

    # ------------------------------------------------------------------ the store
    def _save(self, job: Job) -> None:
        if self._store is None:
            return
        try:
            self._store.save(SavedJob(id=job.id, owner=job.owner, seq=job.seq, request=job.request,
                                      created=job.created))
        except Exception:  # the job still runs; only a restart before it starts would lose it
            log.exception("queue: could not save job %s of %s; it runs, but a restart before then loses it",
                          job.id, job.owner)

    def _store_call(self, what: str, job: Job) -> None:
        if self._store is None:
            return
        try:
            getattr(self._store, what)(job.id)
        except Exception:
            log.exception("queue: the job store failed to note that job %s was %s", job.id,
                          {"started": "started", "requeue": "cut short"}.get(what, "finished"))

    def _resume(self) -> None:
        """Queue the jobs saved before a restart, in their order, each for its owner (once, before any new one)."""
        with self._cond:
            if self._resumed or self._store is None:
                self._resumed = True
                return
            self._resumed = True
            try:
                saved = self._store.load()
            except Exception:  # never stop the start: the files stay for the next one
                log.exception("queue: could not read the saved jobs; starting without them")
                return
            resumed = [item for item in saved if item.id not in self._jobs]
            for item in resumed:
                if item.was_running:
                    log.warning("queue: job %s of %s was running when the WebUI stopped: it runs again from its "
                                "start (the pictures it had saved are already in the outputs folder)",
                                item.id, item.owner)
                self._enqueue(self._new_job(item.id, item.owner, item.request, item.seq, item.created))
            if resumed:
                last = max(job.seq for job in self._jobs.values())
                self._seq = itertools.count(max(last + 1, next(self._seq)))
                log.info("queue: %d job(s) saved before the restart are queued again", len(resumed))

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs_of(self, owner: str) -> list[Job]:
        return [j for j in list(self._jobs.values()) if j.owner == owner]

    def all_jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def position(self, job: Job) -> int:
        """0 = running (or finished); n = n jobs will run before it, given the round-robin order."""
        with self._cond:
            if job.status != QUEUED:
                return 0
            order = self._planned_order()
            return order.index(job) + (1 if self._running else 0) if job in order else 0

    def wait(self, job: Job, timeout: float | None = None) -> bool:
        return job.done.wait(timeout)

    # ------------------------------------------------------------------ control
    def _check_owner(self, job: Job, user: str, is_admin: bool) -> None:
        if job.owner != user and not is_admin:
            raise NotAllowed("You can only stop your own jobs.")

    def interrupt(self, job_id: str, user: str, is_admin: bool = False) -> bool:
        job = self._jobs.get(job_id)
        if job is None:
            return False
        self._check_owner(job, user, is_admin)
        with self._cond:
            if job.status == QUEUED:
                self._queues[job.owner].remove(job)
                self._finish(job, CANCELLED)
                return True
        job.control.interrupt.set()
        return True

    def skip(self, job_id: str, user: str, is_admin: bool = False) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.status != RUNNING:
            return False
        self._check_owner(job, user, is_admin)
        job.control.skip.set()
        return True

    def current_of(self, user: str) -> Job | None:
        """The user's running job, else their oldest queued one."""
        with self._cond:  # the worker may pop the last queued job meanwhile
            for running in self._running:
                if running.owner == user:
                    return running
            queue = self._queues.get(user)
            return queue[0] if queue else None

    # ------------------------------------------------------------------ worker
    @staticmethod
    def _pick(queues: dict[str, deque[Job]], served: dict[str, int]) -> str | None:
        """The owner to serve next: least recently served first, then whoever has waited longest."""
        waiting = [owner for owner, queue in queues.items() if queue]
        if not waiting:
            return None
        return min(waiting, key=lambda owner: (served.get(owner, -1), queues[owner][0].seq))

    def _planned_order(self) -> list[Job]:
        queues = {owner: deque(q) for owner, q in self._queues.items()}
        served = dict(self._served)
        order: list[Job] = []
        turn = itertools.count(1 + max(served.values(), default=0))
        while (owner := self._pick(queues, served)) is not None:
            order.append(queues[owner].popleft())
            served[owner] = next(turn)
        return order

    def _next_job(self) -> Job | None:
        owner = self._pick(self._queues, self._served)
        if owner is None:
            self._queues.clear()
            return None
        queue = self._queues[owner]
        job = queue.popleft()
        if not queue:
            del self._queues[owner]
        self._served[owner] = next(self._turns)
        # Forget owners who would go first anyway (served before everyone waiting): without accounts every
        # browser session is an owner, and this table must not grow for the life of the server.
        floor = min((self._served.get(o, -1) for o in self._queues), default=self._served[owner])
        self._served = {o: t for o, t in self._served.items() if t >= floor or o in self._queues}
        return job

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not any(self._queues.values()) or self._groups >= self._slots):
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._next_job()
                if job is None:
                    continue
                group = [job] + self._partners(job)
                for member in group:
                    member.status, member.started = RUNNING, time.time()
                    self._running.append(member)
                self._groups += 1
            for member in group:
                self._store_call("started", member)
            if len(group) == 1:
                self._run(job)
            else:
                self._run_group(group)

    def _partners(self, job: Job) -> list[Job]:
        """Other users' next jobs that can share `job`'s batch, in the fair order, one per user (lock held)."""
        key = self._batcher.key(job.request) if self._batcher is not None else None
        if key is None:
            return []
        partners: list[Job] = []
        while len(partners) + 1 < self._batcher.max_jobs:
            taken = {job.owner, *(p.owner for p in partners)}
            fits = {o: q for o, q in self._queues.items() if q and o not in taken
                    and self._batcher.key(q[0].request) == key}
            owner = self._pick(fits, self._served)
            if owner is None:
                break
            partners.append(self._queues[owner].popleft())
            if not self._queues[owner]:
                del self._queues[owner]
            self._served[owner] = next(self._turns)
        return partners

    def _run(self, job: Job) -> None:
        self._settle([job], lambda: [self._runner(job.request, job.control, job.owner)])

    def _run_group(self, group: list[Job]) -> None:
        self._settle(group, lambda: self._batcher.run([j.request for j in group], [j.control for j in group],
                                                       [j.owner for j in group]))

    def _settle(self, group: list[Job], call: Callable[[], list[GenerationResult]]) -> None:
        """Run the group's call and finish each job with its result; a failure fails the group's jobs alone: the
        worker and the loaded model stay usable."""
        error: str | None = None
        try:
            for job, result in zip(group, call(), strict=True):
                job.result = result
        except UserError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("job(s) %s failed", ", ".join(f"{j.id} of {j.owner}" for j in group))
            error = f"Generation failed: {type(exc).__name__}: {exc}"
        with self._cond:
            self._groups -= 1
            for job in group:
                if error is not None:
                    job.result, job.error, status = None, error, FAILED
                else:
                    status = CANCELLED if job.result.interrupted and not job.result.images else DONE
                self._running.remove(job)
                # Stopped by a shutdown (`stop` interrupts it), not by its owner: it stays saved and runs again.
                cut_short = self._stopping and status != FAILED and (job.result is None or job.result.interrupted)
                self._finish(job, status, keep_saved=cut_short)

    def _finish(self, job: Job, status: str, keep_saved: bool = False) -> None:
        self._store_call("requeue" if keep_saved else "remove", job)
        job.status, job.finished = status, time.time()
        # Kept jobs must stay small: hundreds are kept, and input pictures can be 8192 px.
        job.preview = None
        job.request = _without_pictures(job.request)
        if job.result is not None:
            job.result.request = _without_pictures(job.result.request)
        job.done.set()
        self._cond.notify_all()

    def _on_step(self, job: Job, info: StepInfo) -> None:
        job.progress = info
        if info.preview is not None:
            job.preview = info.preview

    def _trim(self) -> None:
        """Forget the oldest finished jobs past `keep_finished` per owner: one user's many jobs never push
        another user's results out before they could fetch them."""
        finished: dict[str, list[Job]] = {}
        for job in self._jobs.values():
            if job.status in FINISHED:
                finished.setdefault(job.owner, []).append(job)
        for jobs in finished.values():
            for job in jobs[: max(0, len(jobs) - self._keep_finished)]:
                del self._jobs[job.id]
        # And a bound for the server's memory (every anonymous page is an owner of its own): past the total, the
        # oldest go first, never below a few per owner.
        total = sum(min(len(jobs), self._keep_finished) for jobs in finished.values())
        if total <= self._keep_total:
            return
        for job in sorted((j for jobs in finished.values() for j in jobs[-self._keep_finished:][:-KEEP_AT_LEAST]),
                          key=lambda j: j.finished or 0)[: total - self._keep_total]:
            self._jobs.pop(job.id, None)
