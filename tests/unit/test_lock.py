"""The installed packages are the locked ones: a release upstream must never move under the tests.

`./test.sh` installs requirements-test.lock (and `./webui.sh` requirements.lock): exact versions of every package,
direct and transitive. When the venv drifts from the lock (an old venv, a hand-installed package), this names the
package and what to do, instead of a strange failure three layers down.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def locked(path: Path) -> dict[str, str]:
    """{normalised name: version} of a pip-compile lock."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def drift(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per locked package that is missing or at another version."""
    problems = []
    for name, version in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}: locked at {version}, not installed")
        elif have.split("+")[0] != version.split("+")[0]:
            problems.append(f"{name}: locked at {version}, installed {have}")
    return problems


def installed_versions() -> dict[str, str]:
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def test_drift_names_the_package_that_moved():
    pins = {"peft": "0.21.2", "torch": "2.14.1", "lark": "1.2.2"}
    found = drift(pins, {"peft": "0.22.0", "torch": "2.14.1+cu130"})
    assert found == ["lark: locked at 1.2.2, not installed", "peft: locked at 0.21.2, installed 0.22.0"]


def test_lock_files_pin_every_direct_requirement():
    direct = [normalise(re.split(r"[<>=!~\[; ]", line.strip())[0])
              for name in ("requirements.txt", "requirements-test.txt")
              for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    pins = locked(ROOT / "requirements-test.lock")
    assert [name for name in direct if name not in pins] == []
    app = locked(ROOT / "requirements.lock")
    # The app's lock is the test lock without the test tools: the same versions where both pin a package.
    assert {n: v for n, v in app.items() if pins.get(n) != v} == {}


@pytest.mark.parametrize("lock", ["requirements-test.lock"])
def test_installed_packages_match_the_lock(lock):
    problems = drift(locked(ROOT / lock), installed_versions())
    assert not problems, (f"the venv differs from {lock}:\n  " + "\n  ".join(problems)
                          + f"\nReinstall: .venv/bin/python -m pip install -r {lock} (or delete .venv and run ./test.sh).")
