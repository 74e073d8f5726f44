"""Generation on Ray workers: a local Ray runtime (127.0.0.1, no dashboard) with two CPU workers and the demo
model, behind the app's one fair queue. One runtime and one pair of workers serve the whole module (starting
them costs seconds); the last test restarts the head and replaces them."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import numpy as np
import pytest

from modules.core.requests import GenerationRequest
from modules.core.settings import REPO_ROOT, settings_from_args
from modules.service.jobs import CANCELLED, DONE, FAILED

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray runtime and four worker starts: minutes of CPU

MODELS = REPO_ROOT / "models"


def demo(prompt: str = "a large red circle on a blue background", seed: int = 1, steps: int = 6,
         checkpoint: str = "demo-shapes") -> GenerationRequest:
    return GenerationRequest(prompt=prompt, seed=seed, checkpoint=checkpoint, width=48, height=48, steps=steps,
                             cfg_scale=5.0, sampler="Euler a")


def build_head(outputs):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.service.services import build_services

    settings = settings_from_args(["--models-dir", str(MODELS), "--outputs-dir", str(outputs), "--settings-file",
                                   str(outputs.parent / "settings.json"), "--workers", "2"])
    # The head only checks requests and saves pictures here: the workers draw.
    services = build_services(settings, DeviceConfig(torch.device("cpu"), torch.float32, "head"), per_user_outputs=True)
    services.jobs.preview_every = 1
    return services


def attach(services, ray):
    from modules.service.workers.pool import PoolOptions
    from modules.service.workers.runtime import runtime_env, start_workers

    # One thread each: two workers on this 2-core machine, as the bench measures.
    options = PoolOptions(kind="cpu", threads=1, max_workers=2, poll_seconds=0.05, maintain_seconds=0.5,
                          runtime_env=runtime_env())
    start_workers(services, wait=True, ray=ray, options=options)
    if services.workers.alive_count() != 2:
        services.workers.stop()
        pytest.fail(f"two workers should have started: {services.workers.workers()}")
    services.jobs.start()
    return services


@pytest.fixture(scope="module")
def ray_runtime():
    from modules.service.workers.runtime import init_ray

    ray = init_ray("2", None, cpus=2, gpus=0)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def head(ray_runtime, tmp_path_factory):
    from modules.service.workers.runtime import stop_workers

    services = attach(build_head(tmp_path_factory.mktemp("head") / "outputs"), ray_runtime)
    yield services
    services.jobs.stop()
    stop_workers(services, shutdown=False)


def finish(services, jobs, timeout: float = 240.0):
    for job in jobs:
        assert services.jobs.wait(job, timeout), f"job {job.id} did not finish: {job.status} {job.progress}"
    return jobs


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_local_ray_runtime_listens_on_loopback_only(head):
    import psutil

    listening = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        label = " ".join([proc.info["name"] or ""] + (proc.info["cmdline"] or [])[:2])
        if not any(word in label for word in ("raylet", "gcs_server", "ray::", "default_worker", "ray/")):
            continue
        try:
            listening += [(label[:60], c.laddr.ip) for c in proc.net_connections(kind="inet") if c.status == "LISTEN"]
        except psutil.Error:
            continue
    assert listening, "no Ray process was found listening: the check would prove nothing"
    loopback = ("127.0.0.1", "::ffff:127.0.0.1", "::1")
    assert [(name, ip) for name, ip in listening if ip not in loopback] == []


def test_jobs_of_two_users_spread_over_both_workers_and_keep_fair_order(head):
    alice = [head.submit(demo(seed=s), "alice") for s in (1, 2, 3, 4)]
    bob = [head.submit(demo(seed=s), "bob") for s in (5, 6)]
    jobs = finish(head, [*alice, *bob])
    assert [j.status for j in jobs] == [DONE] * 6, [j.error for j in jobs]
    # Two slots take alice's first two at once; then users alternate: bob's jobs don't wait behind all of alice's.
    assert bob[0].started <= alice[2].started and bob[1].started <= alice[3].started
    assert {j.result.worker for j in jobs} == {"worker-1", "worker-2"}
    # Pictures are saved by the head, in its outputs folder, per user, with the infotext.
    for job in jobs:
        assert job.result.paths and all(os.path.isfile(p) for p in job.result.paths)
        assert f"/{job.owner}/" in job.result.paths[0]
    done = {w.name: w.jobs_done for w in head.workers.workers()}
    assert sum(done.values()) >= 6 and all(done.values())


def test_progress_and_previews_come_back_and_interrupt_stops_a_remote_job(head):
    job = head.submit(dataclasses.replace(demo(seed=7, steps=150), batch_count=3), "alice")
    wait_for(lambda: job.progress is not None and job.progress.step >= 2, 120, "remote progress")
    wait_for(lambda: job.preview is not None, 30, "a live preview")
    assert 0 < job.fraction < 1
    assert any(w.current_job == job.id for w in head.workers.workers())
    head.jobs.interrupt(job.id, "alice")
    assert head.jobs.wait(job, 30), "the interrupted job did not stop"
    assert job.status in (CANCELLED, DONE) and job.result.interrupted
    assert job.progress.fraction < 1


def test_routing_prefers_the_worker_that_holds_the_jobs_checkpoint(head):
    first = finish(head, [head.submit(demo(checkpoint="demo-shapes-night", seed=11), "alice")])[0]
    assert first.status == DONE, first.error
    holder = first.result.worker
    # The other worker has been idle longer, so without affinity it would be chosen next; twice over.
    for seed in (12, 13):
        job = finish(head, [head.submit(demo(checkpoint="demo-shapes-night", seed=seed), "bob")])[0]
        assert job.status == DONE and job.result.worker == holder
    listed = {w.name: w.loaded for w in head.workers.workers()}
    assert "demo-shapes-night" in listed[holder]


def test_a_model_no_worker_can_see_fails_the_job_with_a_clear_message(head, monkeypatch):
    monkeypatch.setattr(head.workers, "_resolve", lambda query: "only-on-the-head.safetensors")
    job = finish(head, [head.submit(demo(seed=5), "alice")])[0]
    assert job.status == FAILED
    assert "No worker can see checkpoint 'only-on-the-head.safetensors'" in job.error
    assert "shared models folder" in job.error


def test_a_worker_killed_mid_job_costs_one_retry_elsewhere_with_the_same_pixels(head):
    reference = finish(head, [head.submit(demo(seed=21, steps=30), "alice")])[0]
    assert reference.status == DONE
    job = head.submit(demo(seed=21, steps=30), "alice")
    wait_for(lambda: job.progress is not None and job.progress.step >= 2, 120, "the job to run")
    victim = next(w for w in head.workers.workers() if w.current_job == job.id)
    pid = head.workers._workers[victim.name].status.pid
    os.kill(pid, signal.SIGKILL)
    finish(head, [job])
    assert job.status == DONE, job.error
    assert job.result.worker != victim.name
    assert np.array_equal(np.asarray(job.result.images[0]), np.asarray(reference.result.images[0]))
    # The dead worker leaves the rotation with its error shown; a new one takes its slot and gets work.
    listed = {w.name: w for w in head.workers.workers()}
    assert victim.name not in listed or (not listed[victim.name].alive and listed[victim.name].last_error)
    wait_for(lambda: head.workers.alive_count() == 2, 180, "a new worker to join")
    jobs = finish(head, [head.submit(demo(seed=s), "bob") for s in (31, 32)])
    assert all(j.status == DONE for j in jobs)


def test_jobs_queued_and_running_survive_a_restart_of_the_head(head, ray_runtime):
    from modules.service.workers.runtime import stop_workers

    # Long jobs, so none finishes between the look at their states and the shutdown.
    jobs = [head.submit(dataclasses.replace(demo(seed=40 + n, steps=60), batch_count=2), "alice") for n in range(3)]
    wait_for(lambda: sum(j.progress is not None and j.progress.step >= 1 for j in jobs) == 2, 120, "two jobs to run")
    pending = [j.id for j in jobs if j.status in ("queued", "running")]
    running = [j.id for j in jobs if j.status == "running"]
    assert len(pending) == 3 and len(running) == 2
    head.jobs.stop()  # the head shuts down: the jobs the workers were drawing are cut short and stay saved
    head.jobs._store.close()
    stop_workers(head, shutdown=False)

    again = attach(build_head(head.settings.paths.outputs), ray_runtime)
    try:
        resumed = [again.jobs.get(job_id) for job_id in pending]
        assert None not in resumed, "a queued job was lost in the restart"
        finish(again, resumed)
        assert [j.status for j in resumed] == [DONE] * len(resumed), [j.error for j in resumed]
        assert all(j.result.worker and not j.result.interrupted and len(j.result.images) == 2 for j in resumed)
    finally:
        again.jobs.stop()
        stop_workers(again, shutdown=False)
