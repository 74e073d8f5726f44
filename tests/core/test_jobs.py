"""The job queue with a fake runner: fairness across users, limits, per-job interrupt, failures."""

from __future__ import annotations

import threading
import time

import pytest

from modules.core.results import GenerationResult, JobControl
from modules.service.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobQueue, NotAllowed, QueueFull

WAIT = 10.0


class FakeRunner:
    """Records the order jobs ran in; a job whose request is 'block' waits for `release` (or its interrupt)."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, request, control: JobControl, owner: str) -> GenerationResult:
        self.ran.append(request)
        if request == "block":
            self.started.set()
            while not self.release.is_set() and not control.interrupt.is_set():
                time.sleep(0.005)
            if control.interrupt.is_set():
                return GenerationResult(request=request, images=[], seeds=[], subseeds=[], infotexts=[],
                                        interrupted=True)
        if request == "crash":
            raise RuntimeError("CUDA out of memory (fake)")
        if request == "bad":
            raise ValueError("Width has to be a positive multiple of 8, but is 500. Try 504.")
        return GenerationResult(request=request, images=["image"], seeds=[1], subseeds=[1], infotexts=["info"])


@pytest.fixture
def runner():
    return FakeRunner()


@pytest.fixture
def queue(runner):
    q = JobQueue(runner, per_user_limit=10, global_limit=100)
    yield q
    runner.release.set()
    q.stop()


def hold_worker(queue: JobQueue, runner: FakeRunner, owner: str = "holder"):
    """Start the worker on a job that blocks, so the next submissions queue up."""
    queue.start()
    job = queue.submit("block", owner)
    assert runner.started.wait(WAIT)
    return job


def test_a_job_runs_and_finishes(queue, runner):
    queue.start()
    job = queue.submit("hello", "alice")
    assert queue.wait(job, WAIT)
    assert job.status == DONE and job.result.images == ["image"]
    assert job.fraction == 1.0 and job.started is not None and job.finished >= job.started
    assert queue.get(job.id) is job
    assert queue.jobs_of("alice") == [job]


def test_round_robin_user_b_runs_second(queue, runner):
    # Alice submits 5 jobs to an idle worker: her first starts at once. Then Bob submits one:
    # it must run second, not after Alice's other four.
    queue.start()
    a_jobs = [queue.submit("block", "alice")]
    assert runner.started.wait(WAIT)
    a_jobs += [queue.submit(f"a{i}", "alice") for i in range(1, 5)]
    b_job = queue.submit("b0", "bob")
    assert queue.position(b_job) == 1  # only the running job ahead of it
    assert queue.position(a_jobs[1]) == 2
    runner.release.set()
    for job in (*a_jobs, b_job):
        assert queue.wait(job, WAIT)
    assert runner.ran == ["block", "b0", "a1", "a2", "a3", "a4"]


def test_round_robin_when_the_worker_starts_on_a_full_queue(runner):
    queue = JobQueue(runner)  # not started: all jobs are queued before the first pick
    a_jobs = [queue.submit(f"a{i}", "alice") for i in range(5)]
    b_job = queue.submit("b0", "bob")
    assert queue.position(a_jobs[0]) == 0
    assert queue.position(b_job) == 1
    assert queue.position(a_jobs[1]) == 2
    queue.start()
    try:
        for job in (*a_jobs, b_job):
            assert queue.wait(job, WAIT)
    finally:
        queue.stop()
    assert runner.ran == ["a0", "b0", "a1", "a2", "a3", "a4"]


def test_three_users_alternate(runner):
    queue = JobQueue(runner)
    jobs = [queue.submit(f"{u}{i}", u) for u in ("a", "b", "c") for i in range(2)]
    queue.start()
    try:
        for job in jobs:
            assert queue.wait(job, WAIT)
    finally:
        queue.stop()
    assert runner.ran == ["a0", "b0", "c0", "a1", "b1", "c1"]


def test_position_counts_jobs_ahead(queue, runner):
    hold_worker(queue, runner, "alice")
    first = queue.submit("x1", "carol")
    second = queue.submit("x2", "carol")
    dave = queue.submit("d1", "dave")
    assert queue.position(first) == 1  # the running job is ahead
    assert queue.position(dave) == 2
    assert queue.position(second) == 3
    assert queue.current_of("carol") is first
    runner.release.set()
    assert queue.wait(second, WAIT)
    assert queue.position(second) == 0


def test_per_user_limit(runner):
    queue = JobQueue(runner, per_user_limit=2, global_limit=100)
    queue.submit("1", "alice")
    queue.submit("2", "alice")
    with pytest.raises(QueueFull, match="You already have 2 jobs waiting .limit 2."):
        queue.submit("3", "alice")
    queue.submit("1", "bob")  # others are not affected


def test_global_limit(runner):
    queue = JobQueue(runner, per_user_limit=10, global_limit=3)
    for user in ("a", "b", "c"):
        queue.submit("x", user)
    with pytest.raises(QueueFull, match="The queue is full .3 jobs waiting.") as err:
        queue.submit("x", "d")
    assert err.value.retry_after > 0


def test_interrupt_of_a_queued_job_cancels_it(queue, runner):
    hold_worker(queue, runner)
    job = queue.submit("never", "alice")
    after = queue.submit("after", "alice")
    assert queue.interrupt(job.id, "alice") is True
    assert job.status == CANCELLED and job.done.is_set()
    assert queue.position(after) == 1
    runner.release.set()
    assert queue.wait(after, WAIT)
    assert "never" not in runner.ran


def test_interrupt_of_the_running_job_stops_it(queue, runner):
    job = hold_worker(queue, runner, "alice")
    assert job.status == RUNNING
    assert queue.interrupt(job.id, "alice") is True
    assert queue.wait(job, WAIT)
    assert job.status == CANCELLED  # interrupted with no image


def test_interrupt_by_another_user_is_refused_admin_allowed(queue, runner):
    hold_worker(queue, runner)
    job = queue.submit("mine", "alice")
    with pytest.raises(NotAllowed, match="only stop your own jobs"):
        queue.interrupt(job.id, "mallory")
    assert job.status == QUEUED
    with pytest.raises(NotAllowed):
        queue.skip(hold_job_id(queue), "mallory")
    assert queue.interrupt(job.id, "admin", is_admin=True) is True
    assert job.status == CANCELLED


def hold_job_id(queue: JobQueue) -> str:
    return next(j.id for j in queue.jobs_of("holder"))


def test_interrupt_unknown_job_is_false(queue):
    assert queue.interrupt("nope", "alice") is False


def test_a_crash_fails_that_job_alone(queue, runner):
    queue.start()
    crash = queue.submit("crash", "alice")
    after = queue.submit("fine", "alice")
    assert queue.wait(crash, WAIT) and queue.wait(after, WAIT)
    assert crash.status == FAILED
    assert crash.error == "Generation failed: RuntimeError: CUDA out of memory (fake)"
    assert after.status == DONE


def test_a_user_error_message_is_passed_through_as_is(queue, runner):
    queue.start()
    job = queue.submit("bad", "alice")
    assert queue.wait(job, WAIT)
    assert job.status == FAILED
    assert job.error == "Width has to be a positive multiple of 8, but is 500. Try 504."


def test_progress_is_recorded_from_the_step_callback(runner):
    from modules.core.results import StepInfo

    def stepping(request, control, owner):
        control.on_step(StepInfo(step=2, steps=4, batch_index=0, batch_count=1, preview="preview"))
        seen.append((job.fraction, job.preview))
        return GenerationResult(request=request, images=["i"], seeds=[1], subseeds=[1], infotexts=["t"])

    seen: list = []
    queue = JobQueue(stepping, preview_every=3)
    job = queue.submit("x", "alice")
    assert job.control.preview_every == 3
    queue.start()
    try:
        assert queue.wait(job, WAIT)
    finally:
        queue.stop()
    assert seen == [(0.5, "preview")]


def test_stop_joins_the_worker(runner):
    queue = JobQueue(runner)
    queue.start()
    (thread,) = queue._threads
    assert thread.is_alive()
    queue.stop(timeout=WAIT)
    assert not thread.is_alive()
    assert queue._threads == []


def test_with_two_worker_slots_two_jobs_run_at_once_and_the_next_waits_for_a_free_slot(runner):
    queue = JobQueue(runner, workers=2)
    queue.start()
    first, second = queue.submit("block", "alice"), queue.submit("block", "bob")
    deadline = time.monotonic() + WAIT
    while (first.status, second.status) != (RUNNING, RUNNING):
        assert time.monotonic() < deadline, "both slots should run a job"
        time.sleep(0.005)
    third = queue.submit("hello", "carol")
    time.sleep(0.1)
    assert third.status == QUEUED and queue.current_of("bob") is second
    queue.set_workers(3)  # a worker joined: its slot takes the waiting job at once
    assert queue.wait(third, WAIT) and third.status == DONE
    runner.release.set()
    assert queue.wait(first, WAIT) and queue.wait(second, WAIT)
    queue.stop(timeout=WAIT)


def test_stop_interrupts_a_running_job(runner):
    queue = JobQueue(runner)
    job = hold_worker(queue, runner)
    queue.stop(timeout=WAIT)
    assert job.status == CANCELLED
    assert job.done.is_set()


def test_no_thread_until_started(runner):
    before = threading.active_count()
    queue = JobQueue(runner)
    queue.submit("x", "alice")
    assert threading.active_count() == before


def test_finished_jobs_do_not_keep_input_pictures():
    from dataclasses import dataclass

    from PIL import Image

    from modules.core.results import GenerationResult
    from modules.service.jobs import JobQueue

    @dataclass(frozen=True)
    class Req:
        init_images: tuple = ()
        mask: object = None

    def runner(request, control, owner):
        return GenerationResult(request=request, images=[], seeds=[], subseeds=[], infotexts=[])

    queue = JobQueue(runner)
    queue.start()
    try:
        job = queue.submit(Req(init_images=(Image.new("RGB", (64, 64)),), mask=Image.new("L", (64, 64))), "a")
        assert queue.wait(job, 10)
        assert job.request.init_images == () and job.request.mask is None
        assert job.result.request.init_images == () and job.preview is None
    finally:
        queue.stop()


def test_served_table_does_not_grow_with_owners():
    from modules.core.results import GenerationResult
    from modules.service.jobs import JobQueue

    queue = JobQueue(lambda request, control, owner: GenerationResult(request, [], [], [], []))
    queue.start()
    try:
        for i in range(50):
            assert queue.wait(queue.submit(object(), f"session-{i}"), 10)
        assert len(queue._served) <= 2
    finally:
        queue.stop()


def test_one_users_many_jobs_never_push_out_anothers_result():
    runner = FakeRunner()
    queue = JobQueue(runner, keep_finished=3, per_user_limit=100)
    queue.start()
    try:
        alice = queue.submit("a", "alice")
        queue.wait(alice, WAIT)
        bobs = [queue.submit("b", "bob") for _ in range(6)]
        for job in bobs:
            queue.wait(job, WAIT)
        queue.wait(queue.submit("c", "carol"), WAIT)  # finished jobs are trimmed as new ones come in
        assert queue.get(alice.id) is not None and queue.get(alice.id).result.images == ["image"]
        kept = [job for job in bobs if queue.get(job.id) is not None]
        assert kept == bobs[-3:]  # bob's own oldest results go first, only past his own three
    finally:
        queue.stop()


def test_finished_jobs_are_bounded_in_all_never_below_a_few_per_owner():
    queue = JobQueue(FakeRunner(), keep_finished=10, keep_total=16, per_user_limit=100)
    queue.start()
    try:
        jobs = {owner: [] for owner in ("a", "b", "c")}
        for _ in range(10):
            for owner in jobs:
                jobs[owner].append(queue.submit("x", owner))
                queue.wait(jobs[owner][-1], WAIT)
        queue.wait(queue.submit("x", "d"), WAIT)  # trims as it comes in
        kept = {owner: [j for j in mine if queue.get(j.id) is not None] for owner, mine in jobs.items()}
        assert sum(len(k) for k in kept.values()) <= 16
        assert all(k == mine[-len(k):] and len(k) >= 5 for k, mine in zip(kept.values(), jobs.values()))
    finally:
        queue.stop()
