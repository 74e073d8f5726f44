"""GET /api/v1/workers: admins see the generation workers; without --workers the process itself is the one listed."""

from __future__ import annotations

from modules.core.requests import GenerationRequest
from tests.api.conftest import basic


def test_an_admin_sees_the_in_process_worker_with_its_device_model_and_jobs_done(client, services):
    job = services.submit(GenerationRequest(prompt="a cat", steps=2, width=64, height=64, seed=1), "alice")
    assert services.jobs.wait(job, 60) and job.status == "done", job.error
    response = client.get("/api/v1/workers", headers=basic("root"))
    assert response.status_code == 200, response.text
    (worker,) = response.json()
    assert worker["name"] == "in-process" and worker["remote"] is False and worker["alive"] is True
    assert worker["device"] == "cpu" and worker["jobs_done"] >= 1 and worker["current_job"] is None
    assert worker["loaded"] == [services.models.resolve(None).name]
    assert worker["memory_used"] > 0 and worker["memory_total"] >= worker["memory_used"]


def test_a_user_who_is_not_an_admin_may_not_list_the_workers(client):
    response = client.get("/api/v1/workers", headers=basic("alice"))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


def test_a_finished_job_says_no_ray_worker_drew_it_when_it_ran_in_process(client, services):
    response = client.post("/api/v1/jobs", json={"prompt": "a dog", "steps": 2, "width": 64, "height": 64},
                           headers=basic("alice"))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    services.jobs.wait(services.jobs.get(job_id), 60)
    summary = client.get(f"/api/v1/jobs/{job_id}", headers=basic("alice")).json()
    assert summary["status"] == "done" and "worker" in summary and summary["worker"] is None
