"""Extension routes under /ext/<name>/: behind the login like every route; a raising route fails alone."""

from __future__ import annotations

import pytest

from modules.service.extensions import FAILED, load_extensions
from tests.api.conftest import basic
from tests.fixtures.fake_extensions import write_extension

ROUTES = """
API_VERSION = 1

def setup(api):
    def echo(word: str = "hi"):
        return {"echo": word, "from": api.name}

    def broken():
        raise RuntimeError("route exploded")

    api.add_route("/echo", echo)
    api.add_route("broken", broken, methods=["POST"])
"""


@pytest.fixture
def ext_client(services, accounts, tmp_path):
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    write_extension(tmp_path / "extensions", "routes", ROUTES)
    services.extensions = load_extensions(tmp_path / "extensions")
    with TestClient(build_app(services, accounts)) as client:
        yield client, services


def test_extension_routes_need_login(ext_client):
    client, _ = ext_client
    response = client.get("/ext/routes/echo")
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_extension_route_answers_a_logged_in_user(ext_client):
    client, _ = ext_client
    response = client.get("/ext/routes/echo", params={"word": "bonjour"}, headers=basic("alice"))
    assert response.status_code == 200
    assert response.json() == {"echo": "bonjour", "from": "routes"}


def test_a_raising_route_answers_500_naming_the_extension_and_the_server_goes_on(ext_client):
    client, services = ext_client
    response = client.post("/ext/routes/broken", headers=basic("alice"))
    assert response.status_code == 500
    assert "routes" in response.json()["detail"] and "route exploded" in response.json()["detail"]
    assert services.extensions.get("routes").status == FAILED
    # The extension is marked failed: its routes say so instead of running half-broken code.
    assert client.get("/ext/routes/echo", headers=basic("alice")).status_code == 503
    assert client.get("/sdapi/v1/samplers", headers=basic("alice")).status_code == 200


SCRIPT = """
from modules import extension_api as ext
API_VERSION = 1

def setup(api):
    def run(request, ctx):
        result = ctx.process(ext.replace(request, prompt=request.prompt + ", " + api.values(request)["word"]))
        return result

    api.register_script("Add a word", run)
"""


def test_a1111_script_name_runs_an_extension_script_with_its_alwayson_values(services, accounts, tmp_path):
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    write_extension(tmp_path / "extensions", "add-word", SCRIPT)
    services.extensions = load_extensions(tmp_path / "extensions")
    services.processor.extensions = services.extensions
    with TestClient(build_app(services, accounts)) as client:
        assert client.get("/sdapi/v1/scripts", headers=basic("alice")).json()["txt2img"] == ["add a word"]
        payload = {"prompt": "a red circle", "width": 16, "height": 16, "steps": 1, "seed": 3,
                   "script_name": "add a word", "alwayson_scripts": {"add-word": {"args": {"word": "blue"}}}}
        response = client.post("/sdapi/v1/txt2img", json=payload, headers=basic("alice"))
        assert response.status_code == 200, response.text
        import json

        assert json.loads(response.json()["info"])["infotexts"][0].startswith("a red circle, blue")
        payload["script_name"] = "missing"
        response = client.post("/sdapi/v1/txt2img", json=payload, headers=basic("alice"))
        assert response.status_code == 422 and "Unknown script 'missing'" in response.json()["detail"]
