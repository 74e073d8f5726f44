"""Accounts: --auth, the accounts file and its command, password checks, and the --listen safety rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules.service.accounts import (
    AccountError,
    Accounts,
    check_password,
    check_serving,
    hash_password,
    main,
    parse_auth_arg,
    parse_auth_file,
)

ROOT = Path(__file__).resolve().parents[2]


def test_auth_flag_with_roles():
    accounts = Accounts(parse_auth_arg("alice:s3cret:admin, bob:pa:ss ,carol:x:user"))
    assert accounts.names() == ["alice", "bob", "carol"]
    assert accounts.is_admin("alice") and not accounts.is_admin("bob") and not accounts.is_admin("carol")
    assert accounts.verify("alice", "s3cret") and accounts.verify("bob", "pa:ss")  # ':' inside a password
    assert accounts.verify("alice", "wrong") is None and accounts.verify("nobody", "s3cret") is None
    assert accounts.gradio_auth("carol", "x") and not accounts.gradio_auth("carol", "y")


@pytest.mark.parametrize(("text", "fragment"), [
    ("alice", "no password"), ("../x:pw", "invalid user name"), (".hidden:pw", "invalid user name")])
def test_bad_auth_flag(text, fragment):
    with pytest.raises(AccountError, match=fragment):
        parse_auth_arg(text)


def test_bcrypt_hashes_and_their_limits():
    hashed = hash_password("correct horse", rounds=4)
    assert hashed.startswith("$2") and check_password("correct horse", hashed)
    assert not check_password("wrong", hashed) and not check_password("x" * 100, hashed)
    with pytest.raises(AccountError, match="72"):
        hash_password("é" * 40, rounds=4)
    with pytest.raises(AccountError, match="empty"):
        hash_password("", rounds=4)


def test_a_verified_password_is_not_rehashed_every_request(monkeypatch):
    file_accounts = parse_auth_file(f"alice:user:{hash_password('pw', rounds=4)}\n")
    accounts = Accounts(file_accounts)
    calls = []
    import modules.service.accounts as module

    real = module.check_password
    monkeypatch.setattr(module, "check_password", lambda p, h: calls.append(1) or real(p, h))
    for _ in range(5):
        assert accounts.verify("alice", "pw")
    assert len(calls) == 1
    assert accounts.verify("alice", "other") is None and len(calls) == 2  # failures are always checked


def test_accounts_file_command_creates_and_updates_entries(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.txt"
    monkeypatch.setattr("sys.stdin", _Stdin("first-pw\n"))
    assert main(["--file", str(path), "add", "alice", "--admin", "--password-stdin", "--rounds", "4"]) == 0
    monkeypatch.setattr("sys.stdin", _Stdin("bob-pw\n"))
    assert main(["--file", str(path), "add", "bob", "--password-stdin", "--rounds", "4"]) == 0
    monkeypatch.setattr("sys.stdin", _Stdin("second-pw\n"))
    assert main(["--file", str(path), "add", "alice", "--admin", "--password-stdin", "--rounds", "4"]) == 0
    assert "Updated alice" in capsys.readouterr().out
    assert "second-pw" not in path.read_text() and "bob-pw" not in path.read_text()  # hashes only
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    accounts = Accounts.load(auth_file=path)
    assert accounts.names() == ["alice", "bob"] and accounts.is_admin("alice") and not accounts.is_admin("bob")
    assert accounts.verify("alice", "second-pw") and not accounts.verify("alice", "first-pw")
    assert main(["--file", str(path), "list"]) == 0 and "alice\tadmin" in capsys.readouterr().out


def test_the_command_runs_as_a_module(tmp_path):
    path = tmp_path / "accounts.txt"
    proc = subprocess.run([sys.executable, "-m", "modules.service.accounts", "--file", str(path), "add", "dora",
                           "--rounds", "4"], input="pw\n", capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Accounts.load(auth_file=path).verify("dora", "pw")


def test_plain_passwords_in_the_file_are_refused(tmp_path):
    path = tmp_path / "accounts.txt"
    path.write_text("alice:secret\n")
    with pytest.raises(AccountError, match="modules.service.accounts add"):
        Accounts.load(auth_file=path)


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------------------------------------- serving rules
def test_listen_needs_accounts_or_an_explicit_insecure_flag():
    none, some = Accounts(), Accounts(parse_auth_arg("a:b"))
    assert check_serving(False, none, False) is None  # localhost without login is fine
    assert check_serving(True, some, False) is None
    with pytest.raises(AccountError, match="--insecure-no-auth"):
        check_serving(True, none, False)
    assert "without login" in check_serving(True, none, True)


def test_webui_refuses_to_listen_without_accounts(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "webui.py", "--listen", "--port", "1", "--settings-file",
                           str(tmp_path / "s.json")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--insecure-no-auth" in proc.stderr
    assert "serving" not in proc.stderr


def test_settings_flags():
    from modules.core.settings import settings_from_args

    settings = settings_from_args(["--listen", "--auth", "a:b", "--auth-file", "x.txt", "--insecure-no-auth", "--api"])
    assert settings.auth == "a:b" and settings.auth_file.name == "x.txt" and settings.insecure_no_auth
    assert settings.host == "0.0.0.0"
    assert settings_from_args(["--gradio-auth", "c:d"]).auth == "c:d"  # A1111's name
