"""Our /api/v1/jobs: submit, get, list mine, cancel (owner or admin), and the SSE progress stream."""

from __future__ import annotations

import json

from tests.api.conftest import basic

SMALL = {"prompt": "a red circle", "width": 16, "height": 16, "steps": 2}
WAIT = 30.0


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_submit_get_list_and_stream(client, services):
    submitted = client.post("/api/v1/jobs", headers=basic("alice"), json={**SMALL, "seed": 9})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert submitted.json()["owner"] == "alice" and submitted.json()["status"] in ("queued", "running")

    with client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=basic("alice")) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.read().decode())
    assert events[-1][0] == "done" and events[-1][1]["status"] == "done"
    assert all(name == "progress" for name, _ in events[:-1])

    job = client.get(f"/api/v1/jobs/{job_id}", headers=basic("alice")).json()
    assert job["status"] == "done" and job["progress"] == 1.0 and "Seed: 9," in job["info"]
    assert len(job["images"]) == 1
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=basic("alice")).json()] == [job_id]
    assert client.get("/api/v1/jobs", headers=basic("bob")).json() == []
    assert client.get(f"/api/v1/jobs/{job_id}", headers=basic("bob")).status_code == 404  # not his
    assert client.get(f"/api/v1/jobs/{job_id}/events", headers=basic("bob")).status_code == 404
    everyone = client.get("/api/v1/jobs?all=true", headers=basic("root")).json()
    assert [j["id"] for j in everyone] == [job_id]


def test_cancel_is_for_the_owner_or_an_admin(client, services, gate):
    running = client.post("/api/v1/jobs", headers=basic("alice"), json=SMALL).json()["id"]
    assert gate.started.wait(WAIT)
    queued = client.post("/api/v1/jobs", headers=basic("alice"), json=SMALL).json()
    assert queued["position"] == 1 and queued["status"] == "queued"

    assert client.post(f"/api/v1/jobs/{queued['id']}/cancel", headers=basic("bob")).status_code == 404
    assert services.jobs.get(queued["id"]).status == "queued"
    cancelled = client.delete(f"/api/v1/jobs/{queued['id']}", headers=basic("alice")).json()
    assert cancelled["status"] == "cancelled"

    assert client.post(f"/api/v1/jobs/{running}/cancel", headers=basic("root")).status_code == 200  # admin
    assert services.jobs.wait(services.jobs.get(running), WAIT)
    assert services.jobs.get(running).control.interrupt.is_set()


def test_health_needs_login_too(client):
    assert client.get("/api/v1/health").status_code == 401
    assert client.get("/api/v1/health", headers=basic("bob")).json() == {"status": "ok"}


def test_bad_job_is_refused_at_submit(client):
    response = client.post("/api/v1/jobs", headers=basic("alice"), json={**SMALL, "steps": 0})
    assert response.status_code == 422 and "Steps" in response.json()["detail"]
