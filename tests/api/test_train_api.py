"""POST /api/v1/train/lora: a queued job of the caller's; when done the LoRA is in /sdapi/v1/loras, and the
training route shows its losses and samples. Admin limits, unknown fields and taken names are refused."""

from __future__ import annotations

import base64
import io
import time

import pytest

from tests.api.conftest import basic, make_accounts, make_services
from training import shapes


@pytest.fixture
def train_client(tiny_models_dir, tmp_path, cpu_fp32):
    """The real app over a models/ folder of this test's own (training writes into its Lora/)."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    root = tmp_path / "models"
    (root / "Stable-diffusion").mkdir(parents=True)
    (root / "VAE").mkdir()
    (root / "Stable-diffusion" / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a",
                                                      target_is_directory=True)
    services = make_services(root, tmp_path, cpu_fp32, per_user_outputs=True)
    services.jobs.start()
    with TestClient(build_app(services, make_accounts())) as client:
        client.services = services
        yield client
    services.jobs.stop()


def picture(seed: int) -> str:
    buffer = io.BytesIO()
    shapes.training_sample(seed, 32).image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def payload(**changes) -> dict:
    return {"name": "speckle", "checkpoint": "tiny-a", "trigger": "speckled", "steps": 3, "rank": 2,
            "learning_rate": 1e-2, "resolution": 32, "images": [{"image": picture(1), "caption": "a red circle"},
                                                                {"image": picture(2)}], **changes}


def wait(client, job_id: str, user: str) -> dict:
    for _ in range(1200):
        job = client.get(f"/api/v1/jobs/{job_id}", headers=basic(user)).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError("the training job did not finish")


def test_a_training_job_is_queued_and_its_lora_is_listed_when_done(train_client):
    answer = train_client.post("/api/v1/train/lora", json=payload(), headers=basic("alice"))
    assert answer.status_code == 202, answer.text
    job = wait(train_client, answer.json()["id"], "alice")
    assert job["status"] == "done", job
    assert "speckle" in job["info"]
    names = [lora["name"] for lora in train_client.get("/sdapi/v1/loras", headers=basic("alice")).json()]
    assert "speckle" in names
    status = train_client.get(f"/api/v1/train/lora/{job['id']}", headers=basic("alice")).json()
    assert status["lora"] == "speckle" and len(status["losses"]) == 3 and status["samples"]
    # Another user does not see it (404, as for any job of someone else's).
    assert train_client.get(f"/api/v1/train/lora/{job['id']}", headers=basic("bob")).status_code == 404
    again = train_client.post("/api/v1/train/lora", json=payload(), headers=basic("alice"))
    assert again.status_code == 422 and "already exists" in again.json()["detail"]


def test_admins_can_keep_training_to_themselves_and_limit_the_steps(train_client):
    store = train_client.services.ui_settings
    store.update({"lora_training_who": "admins"})
    refused = train_client.post("/api/v1/train/lora", json=payload(), headers=basic("bob"))
    assert refused.status_code == 403 and "Only admins" in refused.json()["detail"]
    store.update({"lora_training_who": "everyone", "lora_training_max_steps": 2})
    too_long = train_client.post("/api/v1/train/lora", json=payload(), headers=basic("bob"))
    assert too_long.status_code == 422 and "at most 2" in too_long.json()["detail"]


def test_unknown_fields_and_bad_pictures_are_refused_before_queueing(train_client):
    typo = train_client.post("/api/v1/train/lora", json=payload(learning_rte=1), headers=basic("alice"))
    assert typo.status_code == 422
    empty = train_client.post("/api/v1/train/lora", json=payload(images=[]), headers=basic("alice"))
    assert empty.status_code == 422 and "Add pictures" in empty.json()["detail"]
    assert train_client.services.jobs.jobs_of("alice") == []
    schema = train_client.get("/openapi.json", headers=basic("alice")).json()
    assert "/api/v1/train/lora" in schema["paths"]


def test_a_queued_training_survives_a_restart_with_its_pictures(tmp_path):
    from PIL import Image

    from modules.service.jobs import SavedJob
    from modules.service.lora_trainer import LoraTrainRequest, TrainImage
    from modules.service.queue_store import DEFAULT_TYPES, QueueFolder

    store = QueueFolder(tmp_path / "queue", types=(*DEFAULT_TYPES, LoraTrainRequest, TrainImage))
    image = Image.new("RGB", (16, 12), (250, 135, 195))
    request = LoraTrainRequest(name="p", checkpoint="tiny-a", init_images=(TrainImage(image, "a cat"),), steps=7,
                               run_id="abc")
    store.save(SavedJob(id="j1", owner="alice", seq=0, request=request, created=1.0))
    store.close()
    (loaded,) = QueueFolder(tmp_path / "queue", types=(*DEFAULT_TYPES, LoraTrainRequest, TrainImage)).load()
    again = loaded.request
    assert again.steps == 7 and again.run_id == "abc" and again.init_images[0].caption == "a cat"
    assert again.init_images[0].image.tobytes() == image.tobytes()
