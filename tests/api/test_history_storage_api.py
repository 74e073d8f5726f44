"""/api/v1/history when storage fails: a damaged index is rebuilt and the routes answer; a folder that can't be
written answers 503 saying what to check, never 500. Queued jobs are kept beside the index."""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

from modules.core.requests import GenerationRequest
from modules.engine.extras import ExtrasRequest
from modules.service.jobs import SavedJob
from modules.service.queue_store import DEFAULT_TYPES, QueueFolder
from tests.api.conftest import basic

WAIT = 30.0


def save(services, prompt: str, user: str, seed: int) -> None:
    text = f"{prompt}\nSteps: 1, Sampler: Euler a, Seed: {seed}, Size: 8x8, Model hash: 0123456789, Model: tiny-a"
    services.outputs.save(Image.new("RGB", (8, 8), (seed * 50 % 255, 90, 200)), "txt2img-images", seed, text,
                          user=user)


def settle(services) -> None:
    """Let the background vector pass (find similar) finish first: a connection it reopened after close() would
    keep working on the removed file and hide the storage failure these tests make."""
    assert services.similar is None or services.similar.wait_idle(WAIT)


def routes(image_id: int) -> list[tuple[str, str]]:
    base = f"/api/v1/history/{image_id}"
    return [("GET", "/api/v1/history?q=fox"), ("GET", base), ("GET", f"{base}/image"), ("GET", f"{base}/thumbnail"),
            ("DELETE", base), ("POST", f"{base}/restore"), ("POST", "/api/v1/history/trash/empty?confirm=true")]


def test_the_routes_answer_after_the_index_is_damaged_and_it_is_rebuilt(client, services):
    for seed, user in enumerate(["alice", "alice", "bob"], start=1):
        save(services, f"a fox number {seed}", user, seed)
    history = services.history
    index = history.index_path
    settle(services)
    history.close()
    index.write_bytes(b"\x00garbage, not SQLite" * 500)

    first = client.get("/api/v1/history", headers=basic("alice"))
    assert first.status_code == 200, first.text  # answers at once, with what is rebuilt so far
    assert history.wait_for_rebuild(WAIT)
    found = client.get("/api/v1/history", params={"q": "fox"}, headers=basic("alice")).json()
    assert found["total"] == 2 and {i["owner"] for i in found["items"]} == {"alice"}
    image_id = found["items"][0]["id"]
    for method, url in routes(image_id):
        answer = client.request(method, url, headers=basic("alice"))
        assert answer.status_code == 200, (method, url, answer.text)
    assert index.with_name("history.sqlite3.corrupt").is_file()


def test_an_index_folder_that_cannot_be_written_answers_503_saying_what_to_check(client, services):
    save(services, "a fox", "alice", 1)
    image_id = services.history.search().entries[0].id
    settle(services)
    services.history.close()
    folder = services.history.data_dir
    shutil.rmtree(folder)
    folder.write_text("a file where the index folder should be")  # unwritable even for root
    for method, url in routes(image_id):
        answer = client.request(method, url, headers=basic("alice"))
        assert answer.status_code == 503, (method, url, answer.text)
        body = answer.json()
        assert body["error"] == "StorageUnavailable" and "writable by the user running the WebUI" in body["detail"]
        assert answer.headers["Retry-After"]
    folder.unlink()  # fixed: the history answers again, with no restart
    assert client.get("/api/v1/history", headers=basic("alice")).status_code == 200


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="as root, file permissions do not stop writes")
def test_a_read_only_outputs_folder_answers_503(client, services):
    save(services, "a fox", "alice", 1)
    image_id = services.history.search().entries[0].id
    settle(services)
    services.history.close()
    root = services.outputs.root
    paths = [root, *root.rglob("*")]
    modes = {path: path.stat().st_mode for path in paths}
    try:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        for method, url in routes(image_id):
            if url.endswith("/image"):
                continue  # reading a picture needs no write
            answer = client.request(method, url, headers=basic("alice"))
            assert answer.status_code == 503, (method, url, answer.text)
            assert "writable" in answer.json()["detail"]
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_queued_jobs_are_saved_beside_the_history_index(client, services, gate):
    small = GenerationRequest(prompt="a fox", width=16, height=16, steps=1, checkpoint="tiny-a")
    running = services.submit(small, "alice")
    assert gate.started.wait(WAIT)
    queued = services.submit(small, "bob")
    folder = services.history.data_dir / "queue"
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{running.id}.running", f"{queued.id}.json"])
    gate.release.set()
    assert services.jobs.wait(running, WAIT) and services.jobs.wait(queued, WAIT)
    assert running.status == "done" and queued.status == "done", (running.error, queued.error)
    assert list(folder.iterdir()) == []


def test_an_extras_job_is_saved_with_its_pictures(tmp_path):
    store = QueueFolder(tmp_path / "queue", types=(*DEFAULT_TYPES, ExtrasRequest))
    picture = Image.effect_noise((12, 10), 50).convert("RGB")
    picture.info["parameters"] = "a fox\nSteps: 20"
    request = ExtrasRequest(init_images=(picture,), names=("fox.png",), upscaler_1="Lanczos")
    store.save(SavedJob(id="x1", owner="alice", seq=0, request=request, created=1.0))
    [saved] = store.load()
    assert saved.request == request and saved.request.init_images[0].info["parameters"] == "a fox\nSteps: 20"
