"""Smoke test of bench/bench_load.py's core: a served webui.py, two clients with one job each, all checked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_load.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_two_clients_one_job_each_end_done_and_are_listed(bench, tmp_path):
    users = ["user00", "user01"]
    with bench.served(tmp_path, users) as (url, pid):
        report = bench.run_load(url, users, clients=2, jobs=1)
        assert bench.rss_kib(pid) > 0
    assert report.problems == []
    assert [o.status for o in report.outcomes] == ["done", "done"]
    assert sorted(o.user for o in report.outcomes) == users
    assert {u: len(ids) for u, ids in report.server_jobs.items()} == {"user00": 1, "user01": 1}
    assert report.health and not report.health_errors


def test_check_reports_a_lost_and_an_unfinished_job(bench, monkeypatch):
    """The checker itself must fail on what it is there to catch (no server: the listing is faked)."""
    lost = bench.Outcome(client=0, user="user00", seed=5, job_id="aaa", status="done", info="Seed: 5")
    stuck = bench.Outcome(client=1, user="user00", seed=6, job_id="bbb", status="running")
    monkeypatch.setattr(bench, "_listed", lambda url, users: {"user00": ["bbb", "zzz"]})
    problems = bench.check("http://unused", [lost, stuck], ["user00"], {})
    assert any("lost job(s) ['aaa']" in p for p in problems)
    assert any("nobody sent ['zzz']" in p for p in problems)
    assert any("bbb" in p and "'running'" in p for p in problems)
