"""API tests: the real app (FastAPI TestClient, in process) on tiny random checkpoints."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from modules.core.settings import settings_from_args
from modules.service.accounts import Account, Accounts, _memory_hash

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw"}


def basic(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def make_accounts() -> Accounts:
    return Accounts([Account("alice", _memory_hash(PASSWORDS["alice"])),
                     Account("bob", _memory_hash(PASSWORDS["bob"])),
                     Account("root", _memory_hash(PASSWORDS["root"]), "admin")])


def make_services(tiny_models_dir, tmp_path, cpu_fp32, per_user_outputs: bool):
    from modules.service.services import build_services

    settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "outputs"),
                                   "--settings-file", str(tmp_path / "settings.json")])
    services = build_services(settings, cpu_fp32, per_user_outputs=per_user_outputs)
    services.ui_settings.values["preview_every"] = 1
    services.jobs.preview_every = 1
    return services


@contextmanager
def served_client(models_dir, tmp_path, device, per_user_outputs: bool, accounts: Accounts | None = None) -> Iterator:
    """A TestClient of the whole API over its own services, the job workers running; stopped however the tests end."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    services = make_services(models_dir, tmp_path, device, per_user_outputs=per_user_outputs)
    services.jobs.start()
    try:
        with TestClient(build_app(services, accounts) if accounts is not None else build_app(services)) as client:
            yield client
    finally:
        services.jobs.stop()


@pytest.fixture
def services(tiny_models_dir, tmp_path, cpu_fp32) -> Iterator:
    services = make_services(tiny_models_dir, tmp_path, cpu_fp32, per_user_outputs=True)
    services.jobs.start()
    yield services
    services.jobs.stop()


@pytest.fixture
def accounts() -> Accounts:
    return make_accounts()


@pytest.fixture
def client(services, accounts):
    """A client of the API with accounts alice, bob (users) and root (admin); no credentials by default."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app

    with TestClient(build_app(services, accounts)) as test_client:
        yield test_client


@pytest.fixture
def open_client(tiny_models_dir, tmp_path, cpu_fp32):
    """A client of an API without accounts (a local single-user instance)."""
    with served_client(tiny_models_dir, tmp_path, cpu_fp32, per_user_outputs=False) as test_client:
        yield test_client


class Gate:
    """Wraps the job runner so a test decides when jobs run: each job waits for `release` or its interrupt."""

    def __init__(self, services) -> None:
        import threading

        self.release = threading.Event()
        self.started = threading.Event()
        self.owners: list[str] = []
        self._inner = services.jobs._runner
        services.jobs._runner = self

    def __call__(self, request, control, owner):
        import time

        self.owners.append(owner)
        self.started.set()
        while not self.release.is_set() and not control.interrupt.is_set():
            time.sleep(0.01)
        return self._inner(request, control, owner)


@pytest.fixture
def gate(services) -> Iterator[Gate]:
    held = Gate(services)
    yield held
    held.release.set()
