"""Load on a shared instance: many clients on loopback, through our `/api/v1/jobs` API, with cancels.

Starts webui.py on 127.0.0.1 (a free port) with two tiny random checkpoints built in a temp dir and one
account per pair of clients, then N clients each submit M small txt2img jobs (16x16, 2 steps, a seed of their
own) and follow them over the server-sent-events stream. Some jobs are cancelled: every client cancels one
job while it still waits, and every other client tries to cancel its last job once it runs (tiny jobs often
finish first: that one may end done).

Checked and printed:
  - every job ends (done or cancelled), none failed, none lost (the server's list of each user's jobs is
    exactly what that user's clients submitted) and none duplicated; each done job's infotext has its own seed;
  - a health check (GET /sdapi/v1/progress, as an admin) polled every 0.25 s throughout: max and p99 latency,
    and how many answers took over 1 s;
  - the server's RSS after a warm-up round and after each load round (flat = no growth round after round);
  - 429 answers (queue full) the clients retried after Retry-After.

Run from the repository root:

    nice .venv/bin/python bench/bench_load.py            # 20 clients x 5 jobs, 2 rounds
    nice .venv/bin/python bench/bench_load.py --clients 4 --jobs 2 --rounds 1

Not a test: it prints figures and exits non-zero only when a job was lost, duplicated, failed or unfinished.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "load-pw"
ADMIN = ("loadadmin", "admin-pw")
HEALTH_EVERY = 0.25
JOB_TIMEOUT = 600.0  # seconds a client waits for one job's end before calling it unfinished
START_TIMEOUT = 180.0


# ------------------------------------------------------------------------------------------------ HTTP
class Http:
    """A tiny JSON client with HTTP Basic auth, never through a proxy (the server is on loopback)."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def open(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        return self.opener.open(request, timeout=timeout)

    def json(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        with self.open(method, path, body, timeout) as response:
            return json.loads(response.read())


# ------------------------------------------------------------------------------------------------ server
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_models(folder: Path) -> Path:
    """models/ with two tiny random checkpoints, as the tests build them."""
    from tests.fixtures.tiny import save_tiny_pipeline

    for name, seed in (("tiny-a", 0), ("tiny-b", 1)):
        save_tiny_pipeline(folder / "Stable-diffusion" / name, seed)
    (folder / "VAE").mkdir(exist_ok=True)
    return folder


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextmanager
def served(base: Path, users: list[str]) -> Iterator[tuple[str, int]]:
    """webui.py on a free loopback port with the tiny models and the accounts; yields (url, pid)."""
    models = build_models(base / "models")
    auth = ",".join([f"{u}:{PASSWORD}" for u in users] + [f"{ADMIN[0]}:{ADMIN[1]}:admin"])
    url = f"http://127.0.0.1:{_free_port()}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               GRADIO_TEMP_DIR=str(base / "gradio-tmp"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(ROOT / "webui.py"), "--port", url.rsplit(":", 1)[1], "--models-dir", str(models),
           "--outputs-dir", str(base / "outputs"), "--settings-file", str(base / "settings.json"),
           "--precision", "fp32", "--device", "cpu", "--auth", auth]
    log_path = base / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    admin = Http(url, *ADMIN)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                admin.json("GET", "/api/v1/health", timeout=5)
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"webui.py did not start (exit {proc.poll()}):\n{tail}") from None
                time.sleep(0.5)
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)


# ------------------------------------------------------------------------------------------------ load
@dataclass
class Health:
    """Polls a cheap authenticated route until stopped; records each answer's latency."""

    url: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _poll(self) -> None:
        http = Http(self.url, *ADMIN)
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                http.json("GET", "/sdapi/v1/progress?skip_current_image=true", timeout=10)
                self.latencies.append(time.monotonic() - start)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, HEALTH_EVERY - (time.monotonic() - start)))

    def __enter__(self) -> Health:
        self._thread = threading.Thread(target=self._poll, name="health", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


@dataclass
class Outcome:
    client: int
    user: str
    seed: int
    job_id: str | None = None
    cancel: str = ""  # "" | "queued" | "running": when the client asked to cancel
    cancel_answer: str = ""  # the job's status in the answer to the cancel
    status: str = "unsent"
    info: str = ""
    error: str = ""


def _submit(http: Http, body: dict, retries: list[int]) -> dict:
    """POST a job; on 429 (queue full) wait Retry-After and try again, as a well-behaved client does."""
    while True:
        try:
            return http.json("POST", "/api/v1/jobs", body)
        except urllib.error.HTTPError as exc:
            if exc.code != 429:
                raise
            retries.append(1)
            time.sleep(float(exc.headers.get("Retry-After") or 1))


def _follow(http: Http, job_id: str, cancel_when_running: bool) -> None:
    """Read the job's event stream until `done`; cancel it on its first `running` event if asked."""
    with http.open("GET", f"/api/v1/jobs/{job_id}/events", timeout=JOB_TIMEOUT) as stream:
        event = ""
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
                if event == "done":
                    return
            elif line.startswith("data: ") and cancel_when_running and event == "progress":
                if json.loads(line[6:]).get("status") == "running":
                    http.json("POST", f"/api/v1/jobs/{job_id}/cancel")
                    cancel_when_running = False


def run_client(url: str, client: int, user: str, jobs: int, round_: int, retries: list[int]) -> list[Outcome]:
    http = Http(url, user, PASSWORD)
    outcomes = [Outcome(client, user, seed=round_ * 1_000_000 + client * 1000 + i) for i in range(jobs)]
    for i, out in enumerate(outcomes):
        body = {"prompt": f"a red circle {client}-{i}", "width": 16, "height": 16, "steps": 2, "seed": out.seed,
                "sampler_name": "Euler", "cfg_scale": 5}
        try:
            out.job_id = _submit(http, body, retries)["id"]
            out.status = "submitted"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            out.error = f"submit: {exc}"
    if jobs >= 3 and outcomes[1].job_id:
        outcomes[1].cancel = "queued"  # right after submitting: it is most likely still waiting
        outcomes[1].cancel_answer = http.json("POST", f"/api/v1/jobs/{outcomes[1].job_id}/cancel")["status"]
    if jobs >= 2 and client % 2 == 1:
        outcomes[-1].cancel = "running"
    for out in outcomes:
        if out.job_id is None:
            continue
        try:
            _follow(http, out.job_id, out.cancel == "running")
            summary = http.json("GET", f"/api/v1/jobs/{out.job_id}?images=false")
            out.status, out.info, out.error = summary["status"], summary.get("info") or "", summary.get("error") or ""
        except (urllib.error.URLError, OSError, ValueError) as exc:
            out.error = f"follow: {exc}"
    return outcomes


@dataclass
class Report:
    outcomes: list[Outcome]
    seconds: float
    health: list[float]
    health_errors: list[str]
    retries_429: int
    server_jobs: dict[str, list[str]]  # user -> ids the server lists for them
    problems: list[str]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


def run_load(url: str, users: list[str], clients: int, jobs: int, round_: int = 0,
             known: dict[str, set[str]] | None = None) -> Report:
    """One round: `clients` threads (client i logs in as users[i % len(users)]) each submit and follow `jobs`.
    `known` holds the ids of earlier rounds per user, so the server's lists can be checked exactly."""
    known = known if known is not None else {}
    results: list[list[Outcome]] = [[] for _ in range(clients)]
    retries: list[int] = []

    def client_thread(i: int) -> None:
        results[i] = run_client(url, i, users[i % len(users)], jobs, round_, retries)

    threads = [threading.Thread(target=client_thread, args=(i,), name=f"client-{i}") for i in range(clients)]
    start = time.monotonic()
    with Health(url) as health:
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOB_TIMEOUT * jobs)
    seconds = time.monotonic() - start
    outcomes = [o for r in results for o in r]
    problems = check(url, outcomes, users, known)
    return Report(outcomes, seconds, health.latencies, health.errors, len(retries),
                  _listed(url, users), problems)


def _listed(url: str, users: list[str]) -> dict[str, list[str]]:
    return {u: [j["id"] for j in Http(url, u, PASSWORD).json("GET", "/api/v1/jobs")] for u in users}


def check(url: str, outcomes: list[Outcome], users: list[str], known: dict[str, set[str]]) -> list[str]:
    problems = []
    ids = [o.job_id for o in outcomes if o.job_id]
    if len(ids) != len(outcomes):
        problems.append(f"{len(outcomes) - len(ids)} job(s) were never accepted")
    if len(set(ids)) != len(ids):
        problems.append("the server gave the same job id twice")
    for o in outcomes:
        if o.status not in ("done", "cancelled"):
            problems.append(f"job {o.job_id} of client {o.client} ended {o.status!r} {o.error}")
        elif o.status == "done":
            seeds = re.findall(r"Seed: (\d+)", o.info)
            if seeds != [str(o.seed)]:
                problems.append(f"job {o.job_id} of client {o.client} has seed(s) {seeds}, sent {o.seed}")
        if o.cancel_answer == "cancelled" and o.status != "cancelled":
            problems.append(f"job {o.job_id} was cancelled while queued but ended {o.status!r}")
    # The server keeps the last 100 finished jobs (older ones are in the users' history): this round's jobs must
    # all be listed, and nothing may be listed that no client sent.
    listed = _listed(url, users)
    for user in users:
        mine = {o.job_id for o in outcomes if o.user == user and o.job_id}
        known.setdefault(user, set()).update(mine)
        theirs = listed[user]
        if len(set(theirs)) != len(theirs):
            problems.append(f"{user}: the server lists a job twice")
        if mine - set(theirs):
            problems.append(f"{user}: lost job(s) {sorted(mine - set(theirs))}")
        if set(theirs) - known[user]:
            problems.append(f"{user}: job(s) nobody sent {sorted(set(theirs) - known[user])}")
    return problems


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def print_report(name: str, report: Report, rss: int | None = None) -> None:
    counts = report.counts()
    outcomes = report.outcomes
    cancels_q = sum(o.cancel_answer == "cancelled" for o in outcomes)
    cancels_r = [o for o in outcomes if o.cancel == "running"]
    slow = sum(t > 1.0 for t in report.health)
    print(f"{name}: {len(outcomes)} jobs in {report.seconds:.1f} s "
          f"({len(outcomes) / report.seconds:.2f} jobs/s): {counts}")
    print(f"  cancelled while queued: {cancels_q}; cancel asked once running: {len(cancels_r)} "
          f"({sum(o.status == 'cancelled' for o in cancels_r)} ended cancelled, "
          f"{sum(o.status == 'done' for o in cancels_r)} ended done: finished or interrupted with a picture)")
    print(f"  health: {len(report.health)} checks, max {max(report.health, default=float('nan')) * 1000:.0f} ms, "
          f"p99 {_percentile(report.health, 0.99) * 1000:.0f} ms, median {_percentile(report.health, 0.5) * 1000:.0f}"
          f" ms, over 1 s: {slow}, errors: {len(report.health_errors)}")
    print(f"  429 retries: {report.retries_429}; lost/duplicated/failed: "
          f"{'none' if not report.problems else len(report.problems)}" + (f"; RSS {rss / 1024:.0f} MiB" if rss else ""))
    for problem in report.problems[:20]:
        print(f"  PROBLEM: {problem}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--jobs", type=int, default=5, help="jobs per client")
    p.add_argument("--users", type=int, default=10, help="accounts; client i logs in as user i %% users")
    p.add_argument("--rounds", type=int, default=2, help="load rounds (RSS is compared round after round)")
    args = p.parse_args(argv)
    users = [f"user{i:02d}" for i in range(min(args.users, args.clients))]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, served(Path(tmp), users) as (url, pid):
        rss_start = rss_kib(pid)
        known: dict[str, set[str]] = {}
        warm = run_load(url, users, 1, 1, round_=99, known=known)  # loads the model
        rss_warm = rss_kib(pid)
        print(f"server RSS: at start {rss_start / 1024:.0f} MiB, after a warm-up job {rss_warm / 1024:.0f} MiB"
              f" (warm-up: {warm.counts()})")
        failed = bool(warm.problems)
        rss = [rss_warm]
        for n in range(args.rounds):
            report = run_load(url, users, args.clients, args.jobs, round_=n, known=known)
            rss.append(rss_kib(pid))
            print_report(f"round {n + 1} ({args.clients} clients x {args.jobs} jobs, {len(users)} users)",
                         report, rss[-1])
            failed |= bool(report.problems)
        growth = [(b - a) / 1024 for a, b in zip(rss, rss[1:])]
        print("RSS after warm-up and each round (MiB): " + ", ".join(f"{r / 1024:.0f}" for r in rss)
              + "; change per round: " + ", ".join(f"{g:+.0f}" for g in growth))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
