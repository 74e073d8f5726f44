"""What A1111 clients probe to learn about a server: /sdapi/v1/cmd-flags (bots use its 401 to detect API auth), the
Gradio-era /queue/status, and every other /sdapi/v1 route of A1111 1.10: implemented, or a 501 naming what is
missing, never a 404."""

from __future__ import annotations

import pytest

from modules.core.requests import GenerationRequest
from tests.api.conftest import PASSWORDS, basic

# A1111 1.10's modules/api/api.py routes (and the built-in Lora extension's), as (method, path).
A1111_ROUTES = [
    ("POST", "txt2img"), ("POST", "img2img"), ("POST", "extra-single-image"), ("POST", "extra-batch-images"),
    ("POST", "png-info"), ("GET", "progress"), ("POST", "interrogate"), ("POST", "interrupt"), ("POST", "skip"),
    ("GET", "options"), ("POST", "options"), ("GET", "cmd-flags"), ("GET", "samplers"), ("GET", "schedulers"),
    ("GET", "upscalers"), ("GET", "latent-upscale-modes"), ("GET", "sd-models"), ("GET", "sd-modules"),
    ("GET", "sd-vae"), ("GET", "hypernetworks"), ("GET", "face-restorers"), ("GET", "realesrgan-models"),
    ("GET", "prompt-styles"), ("GET", "embeddings"), ("POST", "refresh-embeddings"), ("POST", "refresh-checkpoints"),
    ("POST", "refresh-vae"), ("POST", "create/embedding"), ("POST", "create/hypernetwork"), ("POST", "train/embedding"),
    ("POST", "train/hypernetwork"), ("GET", "memory"), ("POST", "unload-checkpoint"), ("POST", "reload-checkpoint"),
    ("GET", "scripts"), ("GET", "script-info"), ("GET", "extensions"), ("POST", "server-kill"),
    ("POST", "server-restart"), ("POST", "server-stop"), ("GET", "loras"), ("POST", "refresh-loras"),
]
GENERATING = {"txt2img", "img2img", "extra-single-image", "extra-batch-images", "png-info"}


@pytest.mark.parametrize("path", sorted(GENERATING))
def test_generation_routes_are_served(client, path):
    # A body each refuses at once (422), so nothing is generated: the route exists and reads its input.
    response = client.post(f"/sdapi/v1/{path}", headers=basic("alice"), json={"width": 7, "height": 7})
    assert response.status_code == 422, (path, response.status_code, response.text)


@pytest.mark.parametrize("method,path", [r for r in A1111_ROUTES if r[1] not in GENERATING])
def test_each_route_answers_or_names_what_is_missing(client, method, path):
    response = client.request(method, f"/sdapi/v1/{path}", headers=basic("root"), json={})
    assert response.status_code in (200, 501), (path, response.status_code, response.text)
    if response.status_code == 501:
        detail = response.json()["detail"]
        assert "not" in detail and len(detail) > 30, detail


def test_cmd_flags_answers_401_without_credentials_as_bots_expect(client):
    response = client.get("/sdapi/v1/cmd-flags")
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")
    wrong = client.get("/sdapi/v1/cmd-flags", headers={"Authorization": "Basic Ym9iOm5vcGU="})  # bob:nope
    assert wrong.status_code == 401


def test_cmd_flags_has_a1111_names_with_this_servers_values(client, services):
    response = client.get("/sdapi/v1/cmd-flags", headers=basic("alice"))
    assert response.status_code == 200
    flags = response.json()
    assert len(flags) >= 120
    assert flags["api"] is True and flags["listen"] is False and flags["nowebui"] is False
    assert flags["ckpt_dir"] == str(services.settings.paths.checkpoints)
    assert flags["lora_dir"] == str(services.settings.paths.loras)
    assert flags["use_cpu"] == ["all"] and flags["no_half"] is True  # the tests run on the CPU in fp32
    assert flags["max_batch_count"] == services.processor.limits.max_batch_count
    assert flags["timeout_keep_alive"] == 30 and flags["styles_file"] == [] and flags["api_server_stop"] is False
    assert not any(password in response.text for password in PASSWORDS.values())


def test_cmd_flags_never_sends_passwords_back(tiny_models_dir, tmp_path, cpu_fp32):
    from modules.api.a1111_flags import HIDDEN, cmd_flags
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services

    settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "out"),
                                   "--settings-file", str(tmp_path / "s.json"), "--auth", "ann:secret-pw"])
    flags = cmd_flags(build_services(settings, cpu_fp32))
    assert flags["gradio_auth"] == HIDDEN and flags["api_auth"] == HIDDEN
    assert "secret-pw" not in repr(flags)


def test_cmd_flags_on_an_instance_without_accounts(open_client):
    assert open_client.get("/sdapi/v1/cmd-flags").status_code == 200


def test_queue_status_reflects_the_real_queue(client, services, gate):
    assert client.get("/queue/status").status_code == 401  # with accounts it needs them, like everything else
    idle = client.get("/queue/status", headers=basic("bob")).json()
    assert idle["msg"] == "estimation" and idle["queue_size"] == 0 and idle["queue_eta"] == 0.0
    request = GenerationRequest(prompt="x", width=16, height=16, steps=1, seed=1)
    jobs = [services.submit(request, "alice"), services.submit(request, "bob")]
    assert gate.started.wait(30)
    busy = client.get("/queue/status", headers=basic("bob")).json()
    assert busy["queue_size"] == 2 and busy["rank"] is None
    gate.release.set()
    for job in jobs:
        assert services.jobs.wait(job, 60)
    done = client.get("/queue/status", headers=basic("bob")).json()
    assert done["queue_size"] == 0 and done["avg_event_process_time"] > 0
    # With history, a wait is estimated from it: one queued job adds about one average job.
    gate.release.clear()
    jobs = [services.submit(request, "alice"), services.submit(request, "alice")]
    assert gate.started.wait(30)
    waiting = client.get("/queue/status", headers=basic("bob")).json()
    assert waiting["queue_size"] == 2 and waiting["queue_eta"] > 0
    gate.release.set()
    for job in jobs:
        assert services.jobs.wait(job, 60)


def test_a_user_cannot_stop_the_server_nor_unload_everyones_models(client, services):
    for name in ("server-kill", "server-restart", "server-stop"):
        for user in ("alice", "root"):
            response = client.post(f"/sdapi/v1/{name}", headers=basic(user))
            assert response.status_code == 501 and "Ctrl+C" in response.json()["detail"]
    assert client.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200  # still serving
    for name in ("unload-checkpoint", "reload-checkpoint"):
        response = client.post(f"/sdapi/v1/{name}", headers=basic("alice"))
        assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert client.post("/sdapi/v1/reload-checkpoint", headers=basic("root")).status_code == 200
    assert services.models.loaded_names()
    assert client.post("/sdapi/v1/unload-checkpoint", headers=basic("root")).status_code == 200
    assert services.models.loaded_names() == []


def test_without_accounts_the_local_user_may_unload(open_client):
    assert open_client.post("/sdapi/v1/unload-checkpoint").status_code == 200


def test_memory_has_a1111s_shape(client):
    body = client.get("/sdapi/v1/memory", headers=basic("alice")).json()
    ram = body["ram"]
    assert ram["used"] > 0 and ram["total"] >= ram["used"] and ram["free"] == ram["total"] - ram["used"]
    assert body["cuda"] == {"error": "unavailable"} or "system" in body["cuda"]


def test_styles_extensions_and_scripts_come_from_the_loaded_extensions(client, services):
    from modules.service.services import start_extensions

    assert client.get("/sdapi/v1/prompt-styles", headers=basic("alice")).json() == []  # none loaded yet
    start_extensions(services)
    styles = client.get("/sdapi/v1/prompt-styles", headers=basic("alice")).json()
    assert styles and set(styles[0]) == {"name", "prompt", "negative_prompt"}
    assert "Photo" in {s["name"] for s in styles}
    extensions = {e["name"]: e for e in client.get("/sdapi/v1/extensions", headers=basic("alice")).json()}
    assert "styles" in extensions and extensions["styles"]["enabled"] is True
    assert {"remote", "branch", "commit_hash", "commit_date", "version"} <= set(extensions["styles"])
    infos = client.get("/sdapi/v1/script-info", headers=basic("alice")).json()
    titles = client.get("/sdapi/v1/scripts", headers=basic("alice")).json()
    for panel in ("txt2img", "img2img"):
        names = {i["name"] for i in infos if i["is_img2img"] == (panel == "img2img")}
        assert titles[panel] and names == set(titles[panel]) and all(t == t.lower() for t in titles[panel])
    assert all(set(i) == {"name", "is_alwayson", "is_img2img", "args"} for i in infos)

