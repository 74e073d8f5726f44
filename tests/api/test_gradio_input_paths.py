"""A file path sent as a Gradio event *input* is never trusted (issue: bob read alice's picture through PNG
Info's "read" event with a FileData whose path was hers, and /dev/zero froze the server). Gradio checks inputs
only once it thinks it has launched, which a mounted app never does by itself."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from modules.core.infotext import pnginfo_for
from modules.engine.devices import DeviceConfig
from tests.api.conftest import basic, make_accounts, make_services


@pytest.fixture(scope="module")
def served(tiny_models_dir, tmp_path_factory):
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.ui.app import build_ui, mount_ui

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("paths"), device, per_user_outputs=True)
    accounts = make_accounts()
    app = build_app(services, accounts)
    mount_ui(app, build_ui(services), services, accounts)
    with TestClient(app) as client:
        login = client.post("/login", data={"username": "bob", "password": "bob-pw"})
        assert login.status_code == 200, login.text  # Gradio's session cookie, as bob's browser has
        yield client, services


def call(client, api_name: str, data: list) -> str:
    """Run a Gradio event as bob through Gradio's HTTP API; the text of its event stream."""
    started = client.post(f"/gradio_api/call/{api_name}", json={"data": data})
    assert started.status_code == 200, started.text
    event = started.json()["event_id"]
    return client.get(f"/gradio_api/call/{api_name}/{event}").text


def test_bob_cannot_read_alices_picture_through_an_event_input(served):
    client, services = served
    folder = services.outputs.folder("txt2img-images", "alice") / "2026-12-01"
    folder.mkdir(parents=True)
    secret = folder / "00000-1.png"
    Image.new("RGB", (8, 8), "red").save(secret, pnginfo=pnginfo_for("alice's secret prompt\nSteps: 20, Seed: 1"))
    stream = call(client, "read", [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}])
    assert "alice's secret prompt" not in stream
    assert "event: error" in stream


def test_a_device_file_as_an_input_is_refused_at_once(served):
    client, _ = served
    stream = call(client, "read", [{"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}])
    assert "event: error" in stream
    assert client.get("/sdapi/v1/samplers", headers=basic("bob")).status_code == 200  # the server still answers


def test_an_uploaded_picture_still_works(served):
    client, _ = served
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="PNG", pnginfo=pnginfo_for("my own prompt\nSteps: 5"))
    upload = client.post("/gradio_api/upload", files={"files": ("mine.png", buffer.getvalue(), "image/png")})
    assert upload.status_code == 200, upload.text
    path = upload.json()[0]
    stream = call(client, "read", [{"path": path, "meta": {"_type": "gradio.FileData"}}])
    assert "my own prompt" in stream, stream[:500]
    assert json.dumps("my own prompt")[1:-1] in stream
