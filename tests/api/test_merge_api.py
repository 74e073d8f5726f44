"""POST /api/v1/merge: a queued job of the caller's; when done the checkpoint is in /sdapi/v1/sd-models."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import basic, make_accounts, served_client


@pytest.fixture
def merge_client(tiny_models_dir, tmp_path, cpu_fp32):
    """The real app over a models/ folder of this test's own (merges write into it)."""


    root = tmp_path / "models"
    (root / "Stable-diffusion").mkdir(parents=True)
    (root / "VAE").mkdir()
    for name in ("tiny-a", "tiny-b"):
        (root / "Stable-diffusion" / name).symlink_to(tiny_models_dir / "Stable-diffusion" / name,
                                                      target_is_directory=True)
    with served_client(root, tmp_path, cpu_fp32, per_user_outputs=True, accounts=make_accounts()) as client:
        yield client


def _wait(client, job_id: str, user: str) -> dict:
    for _ in range(600):
        job = client.get(f"/api/v1/jobs/{job_id}", headers=basic(user)).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError("the merge job did not finish")


def test_a_user_merges_through_the_queue_and_the_checkpoint_is_listed_at_once(merge_client):
    answer = merge_client.post("/api/v1/merge", headers=basic("alice"),
                               json={"primary": "tiny-a", "secondary": "tiny-b", "multiplier": 0.3, "name": "mix"})
    assert answer.status_code == 202, answer.text
    job = _wait(merge_client, answer.json()["id"], "alice")
    assert job["status"] == "done" and job["info"] == "Checkpoint saved as mix"
    names = [m["model_name"] for m in merge_client.get("/sdapi/v1/sd-models", headers=basic("bob")).json()]
    assert "mix" in names
    again = merge_client.post("/api/v1/merge", headers=basic("bob"),
                              json={"primary": "tiny-a", "secondary": "tiny-b", "name": "mix"})
    assert again.status_code == 422 and "already exists" in again.text


def test_bad_merge_requests_are_refused_with_a_reason(merge_client):
    def post(body: dict, user: str = "alice"):
        return merge_client.post("/api/v1/merge", headers=basic(user), json=body)

    assert merge_client.post("/api/v1/merge", json={"primary": "tiny-a", "secondary": "tiny-b"}).status_code == 401
    misspelt = post({"primary": "tiny-a", "secondary": "tiny-b", "multipler": 0.2})
    assert misspelt.status_code == 422 and "multipler" in misspelt.text
    missing = post({"primary": "tiny-a", "secondary": "nope"})
    assert missing.status_code == 422 and "Secondary model" in missing.text
    assert post({"primary": "tiny-a", "secondary": "tiny-b", "mode": "add_difference"}).status_code == 422
    assert post({"primary": "tiny-a", "secondary": "tiny-b", "multiplier": 5}).status_code == 422
