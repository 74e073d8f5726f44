"""An instance without accounts answers only to its own names: a page whose DNS name is re-pointed at
127.0.0.1 (DNS rebinding) looks same-origin to the browser, and would otherwise drive the open instance."""

from __future__ import annotations

import pytest

from modules.api.auth import host_name


@pytest.fixture
def open_app(services):
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    app = build_app(services, None, allowed_hosts=frozenset({"localhost", "127.0.0.1", "::1", "studio-box"}))
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        yield client


def test_a_rebound_name_is_refused_and_the_own_names_answer(open_app):
    rebound = open_app.get("/sdapi/v1/samplers", headers={"Host": "evil.example:7860"})
    assert rebound.status_code == 421 and "--allowed-hosts" in rebound.json()["detail"]
    assert open_app.post("/api/v1/history/trash/empty?confirm=true",
                         headers={"Host": "evil.example"}).status_code == 421
    for host in ("127.0.0.1:7860", "localhost:7860", "[::1]:7860", "studio-box"):
        assert open_app.get("/sdapi/v1/samplers", headers={"Host": host}).status_code == 200, host


def test_without_a_list_every_name_is_answered(client):
    # With accounts, a rebound page has no session and no password: the login protects (no list is given).
    assert client.get("/sdapi/v1/samplers", headers={"Host": "evil.example"}).status_code == 401


@pytest.mark.parametrize(("header", "name"), [("Studio:7860", "studio"), ("[::1]:7860", "::1"), ("::1", "::1"),
                                              ("10.0.0.5", "10.0.0.5"), ("", "")])
def test_host_names_are_read_without_the_port(header, name):
    assert host_name(header) == name
