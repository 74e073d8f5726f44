"""Password checks: does timing tell which account names exist? Side by side in one run, interleaved.

For bcrypt accounts (an accounts file, `modules.service.accounts add`) and for `--auth` accounts (in-memory
hashes), times `Accounts.verify` for a known name with a wrong password and for an unknown name, and prints the
ratio unknown / wrong (1.0 = indistinguishable). Also times how fast guesses are refused once the back-off of
`LoginGuard` has started (the guessing rate an attacker gets).

Run from the repository root::

    nice .venv/bin/python bench/bench_auth.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modules.service.accounts import (  # noqa: E402
    Account,
    Accounts,
    LoginGuard,
    LoginRefused,
    _memory_hash,
    hash_password,
)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compare(label: str, accounts: Accounts, rounds: int) -> None:
    wrong, unknown = [], []
    for i in range(rounds):  # interleaved, so machine noise hits both alike
        wrong.append(timed(accounts.verify, "alice", f"not-it-{i}"))
        unknown.append(timed(accounts.verify, f"nobody{i}", f"not-it-{i}"))
    w, u = statistics.median(wrong), statistics.median(unknown)
    print(f"{label:28s} wrong password {w * 1e6:10.1f} us   unknown name {u * 1e6:10.1f} us   ratio {u / w:5.2f}")


def guessing_rate(seconds: float = 2.0) -> None:
    accounts = Accounts([Account("alice", _memory_hash("right"))], guard=LoginGuard())
    guard = accounts.guard
    tried = refused = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            guard.admit("10.0.0.9", "alice")
        except LoginRefused:
            refused += 1
            continue
        with guard.slot():
            ok = accounts.verify("alice", f"guess{tried}") is not None
        guard.record("10.0.0.9", "alice", ok)
        tried += 1
    print(f"guessing one name for {seconds:.0f} s: {tried} passwords checked, {refused} refused by the back-off "
          f"({tried / seconds:.1f} checks/s)")


def main() -> None:
    logging.disable(logging.WARNING)  # one "failed login" line per try would drown the figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    compare("bcrypt accounts (file)", Accounts([Account("alice", hash_password("right", rounds=12))]), args.rounds)
    compare("--auth accounts (memory)", Accounts([Account("alice", _memory_hash("right"))]), args.rounds * 50)
    guessing_rate()


if __name__ == "__main__":
    main()
