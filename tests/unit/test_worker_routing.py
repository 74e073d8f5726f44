"""How the worker pool chooses a worker and what a lost worker costs, with stand-in actors (no Ray processes):
the real runs are in tests/e2e/test_workers_ray.py."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.core.requests import GenerationRequest
from modules.core.results import GenerationResult, JobControl
from modules.engine.worker import Progress, WorkerConfig, WorkerStatus
from modules.service.workers.pool import WorkerPool, _Worker


class ActorDied(Exception):
    pass


class TaskFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class FakeRay:
    """Just what WorkerPool calls: remote methods return their value at once (or the error to raise)."""

    exceptions = SimpleNamespace(GetTimeoutError=TimeoutError, RayActorError=ActorDied, RayTaskError=TaskFailed)

    def wait(self, refs, timeout=None):
        return refs, []

    def get(self, ref, timeout=None):
        if isinstance(ref, BaseException):
            raise ref
        return ref

    def kill(self, actor):
        actor.killed = True


class FakeActor:
    def __init__(self, name: str, outcome=None) -> None:
        self.name, self.outcome, self.killed, self.ran = name, outcome, False, []
        self.run = SimpleNamespace(remote=self._run)
        self.poll = SimpleNamespace(remote=lambda *a: Progress())
        self.status = SimpleNamespace(remote=lambda: status(self.name))
        self.refresh = SimpleNamespace(remote=lambda: status(self.name))

    def _run(self, key, request, preview_every, options):
        self.ran.append(request.seed)
        if self.outcome is not None:
            return self.outcome
        return GenerationResult(request=request, images=[], seeds=[request.seed], subseeds=[0], infotexts=[""])


def status(name: str, checkpoints=("a.safetensors", "b.safetensors"), loaded=()) -> WorkerStatus:
    return WorkerStatus(name=name, host="h", pid=1, device="cpu", dtype="float32", memory_used=1, memory_total=2,
                        loaded=list(loaded), checkpoints=list(checkpoints))


def pool_with(*workers: tuple[FakeActor, WorkerStatus, float]) -> WorkerPool:
    pool = WorkerPool(FakeRay(), WorkerConfig(name="", checkpoints_dir=Path("/models"), vae_dir=Path("/vae"),
                                              cache_file=Path("/tmp/m.json")))
    pool.options.wait_for_worker = 0.1
    for actor, worker_status, last_used in workers:
        pool._workers[actor.name] = _Worker(name=actor.name, actor=actor, status=worker_status, last_used=last_used)
    return pool


def request(checkpoint: str = "a.safetensors", seed: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt="x", checkpoint=checkpoint, seed=seed)


def test_a_job_goes_to_the_free_worker_that_holds_its_checkpoint_before_one_idle_longer():
    idle_longer, holder = FakeActor("w1"), FakeActor("w2")
    pool = pool_with((idle_longer, status("w1"), 1.0), (holder, status("w2", loaded=["b.safetensors"]), 5.0))
    assert pool.generate(request("b.safetensors")).worker == "w2"
    assert pool.generate(request("a.safetensors")).worker == "w1"  # nobody holds it: the one idle longest


def test_a_worker_that_cannot_see_the_checkpoint_is_never_chosen():
    blind, seeing = FakeActor("w1"), FakeActor("w2")
    pool = pool_with((blind, status("w1", checkpoints=["a.safetensors"]), 0.0), (seeing, status("w2"), 9.0))
    for seed in range(3):
        assert pool.generate(request("b.safetensors", seed)).worker == "w2"
    assert blind.ran == []


def test_a_checkpoint_no_worker_can_see_fails_with_what_to_do():
    pool = pool_with((FakeActor("w1"), status("w1"), 0.0))
    with pytest.raises(LookupError, match="No worker can see checkpoint 'c.safetensors'.*shared models folder"):
        pool.generate(request("c.safetensors"))


def test_a_worker_lost_mid_job_costs_one_retry_on_another_worker_with_the_same_request():
    dying, healthy = FakeActor("w1", outcome=ActorDied("killed")), FakeActor("w2")
    pool = pool_with((dying, status("w1"), 0.0), (healthy, status("w2"), 9.0))
    result = pool.generate(request(seed=42))
    assert result.worker == "w2" and healthy.ran == [42] and dying.ran == [42]
    listed = {w.name: w for w in pool.workers()}
    assert not listed["w1"].alive and "w1 stopped" in listed["w1"].last_error and dying.killed


def test_a_second_lost_worker_fails_the_job_with_a_message_instead_of_retrying_forever():
    pool = pool_with((FakeActor("w1", outcome=ActorDied("x")), status("w1"), 0.0),
                     (FakeActor("w2", outcome=ActorDied("y")), status("w2"), 9.0))
    with pytest.raises(RuntimeError, match="w1 and w2 both stopped"):
        pool.generate(request())


def test_the_engines_own_error_reaches_the_user_unwrapped():
    pool = pool_with((FakeActor("w1", outcome=TaskFailed(ValueError("Width has to be a multiple of 8"))),
                      status("w1"), 0.0))
    with pytest.raises(ValueError, match="multiple of 8"):
        pool.generate(request())
    assert pool.workers()[0].alive and "multiple of 8" in pool.workers()[0].last_error


def test_a_job_waits_for_a_busy_worker_and_then_runs_on_it():
    actor = FakeActor("w1")
    pool = pool_with((actor, status("w1"), 0.0))
    pool.options.wait_for_worker = 5.0
    taken = pool._acquire("a.safetensors", [], "job-1", set())
    assert pool.workers()[0].current_job == "job-1"
    done: list[str] = []
    waiter = threading.Thread(target=lambda: done.append(pool.generate(request(), control=JobControl()).worker))
    waiter.start()
    waiter.join(0.3)
    assert done == []  # still waiting: the only worker is busy
    pool._release(taken, None)
    waiter.join(5)
    assert done == ["w1"] and pool.workers()[0].jobs_done == 2


def test_the_workers_flag_takes_auto_or_a_positive_number_and_says_so_otherwise():
    from modules.core.settings import settings_from_args

    assert settings_from_args(["--workers", "auto"]).workers == "auto"
    assert settings_from_args(["--workers", "3", "--ray-address", "10.0.0.2:6379"]).ray_address == "10.0.0.2:6379"
    assert settings_from_args([]).workers is None  # no flag: no Ray at all
    for bad in ("0", "two", "-1"):
        with pytest.raises(SystemExit):
            settings_from_args(["--workers", bad])


def test_one_worker_per_gpu_or_n_cpu_workers_sharing_the_cores(monkeypatch):
    from modules.service.workers.runtime import plan

    def cluster(**resources):
        return SimpleNamespace(cluster_resources=lambda: resources)

    assert plan(cluster(GPU=4.0, CPU=32.0), "auto", None).kind == "gpu"
    assert plan(cluster(GPU=4.0), "auto", None).max_workers is None  # every GPU, also of machines joining later
    assert plan(cluster(GPU=4.0), "2", None).max_workers == 2
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    cpu = plan(cluster(CPU=8.0), "2", None)
    assert (cpu.kind, cpu.max_workers, cpu.threads) == ("cpu", 2, 4)
