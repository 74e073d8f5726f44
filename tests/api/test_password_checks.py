"""Password checks under attack: guessing, telling names apart by timing, and burning CPU with bcrypt.

The attacks run against the real app in process (HTTP Basic on the API, the UI's login page); a fake clock
stands in for waiting out a back-off.
"""

from __future__ import annotations

import base64
import threading
import time

import pytest
from fastapi.testclient import TestClient

import modules.service.accounts as accounts_module
from modules.service.accounts import Account, Accounts, LoginGuard, _memory_hash, hash_password
from tests.api.conftest import PASSWORDS, basic


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def credentials(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def memory_accounts(guard: LoginGuard | None = None, clock: Clock | None = None) -> Accounts:
    return Accounts([Account(name, _memory_hash(pw), "admin" if name == "root" else "user")
                     for name, pw in PASSWORDS.items()], guard=guard, clock=clock or time.monotonic)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_with(services):
    """app_with(accounts) -> a function from a client address to a TestClient of the real API app."""
    from modules.api.app import build_app

    def make(accounts: Accounts):
        app = build_app(services, accounts)
        return lambda ip: TestClient(app, client=(ip, 40000))

    return make


def kind(password_hash: str) -> str:
    """The scheme and cost of a hash, which decide how long checking it takes."""
    if password_hash.startswith("$2"):
        return password_hash[:7]  # "$2b$12$"
    return password_hash.split("$", 1)[0]


# ---------------------------------------------------------------------------------------- equal cost
@pytest.mark.parametrize("scheme", ["--auth (in memory)", "bcrypt file, 4 rounds"])
def test_an_unknown_name_costs_the_same_check_as_a_wrong_password(monkeypatch, scheme):
    if scheme.startswith("bcrypt"):
        accounts = Accounts([Account("alice", hash_password("alice-pw", rounds=4))])
    else:
        accounts = memory_accounts()
    checked: list[str] = []
    real = accounts_module.check_password
    monkeypatch.setattr(accounts_module, "check_password", lambda p, h: checked.append(h) or real(p, h))
    assert accounts.verify("alice", "wrong") is None
    for name in ("mallory", "eve", "trudy"):
        assert accounts.verify(name, "alice-pw") is None
    assert len(checked) == 4 and {kind(h) for h in checked} == {kind(checked[0])}, checked
    if not scheme.startswith("bcrypt"):  # no bcrypt at all for names that don't exist: ~250 ms of CPU each
        started = time.perf_counter()
        for _ in range(5):
            accounts.verify("mallory", "x")
        assert time.perf_counter() - started < 0.25


# ------------------------------------------------------------------------------------------- back-off
def test_guessing_a_password_backs_off_with_a_growing_retry_after(app_with, clock):
    guard = LoginGuard(clock=clock, free_failures=5, first_delay=2.0)
    client = app_with(memory_accounts(guard, clock))
    attacker, elsewhere, bystander = client("10.0.0.66"), client("10.0.0.77"), client("10.0.0.5")
    for guess in range(5):
        assert attacker.get("/sdapi/v1/options", headers=credentials("alice", f"guess{guess}")).status_code == 401
    refused = attacker.get("/sdapi/v1/options", headers=credentials("alice", "guess5"))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert "try again" in refused.json()["detail"].lower()
    # Even the right password waits: a guesser learns nothing while refused.
    assert attacker.get("/sdapi/v1/options", headers=basic("alice")).status_code == 429
    # The name is refused from other addresses too; other users are not.
    assert elsewhere.get("/sdapi/v1/options", headers=basic("alice")).status_code == 429
    assert bystander.get("/sdapi/v1/options", headers=basic("bob")).status_code == 200
    clock.now += 2.5
    assert attacker.get("/sdapi/v1/options", headers=credentials("alice", "guess6")).status_code == 401
    again = attacker.get("/sdapi/v1/options", headers=credentials("alice", "guess7"))
    assert again.status_code == 429 and int(again.headers["retry-after"]) > 2  # grows
    clock.now += 3600 * 2  # long after: the failures are forgotten
    assert bystander.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200


def test_trying_many_names_from_one_address_backs_off(app_with, clock):
    guard = LoginGuard(clock=clock)
    client = app_with(memory_accounts(guard, clock))
    attacker = client("10.0.0.66")
    names = ["admin", "administrator", "test", "user", "studio"] + [f"artist{i}" for i in range(20)]
    for name in names[:guard.free_client_failures]:  # more than one name's worth: a proxy's users share one
        assert attacker.get("/sdapi/v1/options", headers=credentials(name, "password")).status_code == 401
    refused = attacker.get("/sdapi/v1/options", headers=credentials("alice", "password"))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert client("10.0.0.5").get("/sdapi/v1/options", headers=basic("alice")).status_code == 200


def test_ipv6_clients_are_counted_by_their_network():
    clock = Clock()
    guard = LoginGuard(clock=clock, free_client_failures=5)
    for host in range(1, 6):
        guard.record(f"2001:db8:1:2::{host}", f"name{host}", ok=False)
    assert guard.retry_after("2001:db8:1:2:ffff::7", "another") > 0
    assert guard.retry_after("2001:db8:1:3::1", "another") == 0


def test_an_api_client_that_logged_in_before_the_attack_keeps_working(app_with, clock):
    client = app_with(memory_accounts(LoginGuard(clock=clock), clock))
    tool = client("10.0.0.5")  # a Photoshop plugin sending Basic on every request
    assert tool.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200
    attacker = client("10.0.0.66")
    for guess in range(6):
        attacker.get("/sdapi/v1/options", headers=credentials("alice", f"guess{guess}"))
    assert attacker.get("/sdapi/v1/options", headers=credentials("alice", "x")).status_code == 429
    assert tool.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200


# ------------------------------------------------------------------------------------------------- CPU
def test_concurrent_password_checks_are_capped(app_with, monkeypatch):
    accounts = memory_accounts(LoginGuard(max_checks=2))
    release, running = threading.Event(), []
    real = accounts.verify

    def slow_verify(name: str, password: str):  # stands in for a bcrypt that takes a while
        running.append(name)
        release.wait(20)
        return real(name, password)

    monkeypatch.setattr(accounts, "verify", slow_verify)
    client = app_with(accounts)
    answers: dict[int, object] = {}

    def ask(i: int) -> None:
        answers[i] = client(f"10.0.1.{i}").get("/sdapi/v1/options", headers=credentials(f"user{i}", "pw"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(answers) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = [a for a in answers.values() if a.status_code == 503]
        assert len(busy) == 3 and len(running) == 2, (len(running), [a.status_code for a in answers.values()])
        assert all(int(a.headers["retry-after"]) >= 1 for a in busy)
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert sorted(a.status_code for a in answers.values()) == [401, 401, 503, 503, 503]


def test_basic_credentials_are_checked_once_in_a_while_not_on_every_request(app_with, clock, monkeypatch):
    accounts = Accounts([Account("alice", hash_password(PASSWORDS["alice"], rounds=4))],
                        guard=LoginGuard(clock=clock), clock=clock)
    checks = []
    real = accounts_module.check_password
    monkeypatch.setattr(accounts_module, "check_password", lambda p, h: checks.append(1) or real(p, h))
    tool = app_with(accounts)("10.0.0.5")
    for _ in range(5):
        assert tool.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200
    assert len(checks) == 1
    clock.now += 3600  # a remembered password is checked again after a while
    assert tool.get("/sdapi/v1/options", headers=basic("alice")).status_code == 200
    assert len(checks) == 2


# ---------------------------------------------------------------------------------------- login page
@pytest.fixture(scope="module")
def ui_login(tiny_models_dir, tmp_path_factory):
    import torch

    from modules.api.app import build_app
    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui, mount_ui
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("login"), device, per_user_outputs=True)
    clock = Clock()
    accounts = memory_accounts(LoginGuard(clock=clock), clock)
    app = build_app(services, accounts)
    mount_ui(app, build_ui(services), services, accounts)
    yield app, clock


def test_the_login_page_backs_off_too(ui_login):
    app, clock = ui_login
    browser = TestClient(app, client=("10.0.0.66", 40000))
    for guess in range(5):
        wrong = browser.post("/login", data={"username": "alice", "password": f"guess{guess}"})
        assert wrong.status_code == 400 and "Incorrect credentials" in wrong.text  # what the login page shows
    refused = browser.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert browser.get("/config").status_code == 401
    clock.now += 60
    # A multipart form, as the login page sends it.
    ok = browser.post("/login", files={"username": (None, "alice"), "password": (None, PASSWORDS["alice"])})
    assert ok.status_code == 200, ok.text
    assert browser.get("/config").status_code == 200
