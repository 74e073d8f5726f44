"""Browser tests: serve webui.py with tiny models on a free local port and drive it with headless Chromium.

Chromium is Debian's (`apt-get install chromium chromium-driver`); Playwright drives it through
`executable_path`, so `playwright install` is never needed. Tests skip when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(url + "/config", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def served_webui(base: Path, models_dir: Path, extra_args: tuple[str, ...] = (),
                 ready: Callable[[str], bool] | None = None) -> Iterator[tuple[str, Path]]:
    """Run webui.py on a free 127.0.0.1 port until the block ends; yields (url, outputs_dir).

    `ready(url)` says when it serves (default: /config answers). Its log is base/server.log.
    """
    outputs = base / "outputs"
    outputs.mkdir(exist_ok=True)
    log_path = base / "server.log"
    url = f"http://127.0.0.1:{_free_port()}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               GRADIO_TEMP_DIR=str(base / "gradio-tmp"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(REPO_ROOT / "webui.py"), "--port", url.rsplit(":", 1)[1], "--models-dir",
           str(models_dir), "--outputs-dir", str(outputs), "--settings-file", str(base / "settings.json"),
           "--precision", "fp32", "--device", "cpu", *extra_args]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
    ready = ready or _answers
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready(url):
            if proc.poll() is not None:
                pytest.fail(f"webui.py exited with code {proc.returncode} before serving:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"webui.py did not answer on {url} within {START_TIMEOUT:.0f} s:\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield url, outputs
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


@pytest.fixture(scope="session")
def browser_models_dir(tiny_models_dir, cn_models_dir, tmp_path_factory) -> Path:
    """tiny-a and tiny-b, a ControlNet for them, and a LoRA with a preview picture."""
    from PIL import Image

    from tests.fixtures.tiny import save_tiny_lora

    root = tmp_path_factory.mktemp("browser-models")
    for folder in ("Stable-diffusion", "VAE"):
        (root / folder).symlink_to(tiny_models_dir / folder, target_is_directory=True)
    (root / "ControlNet").mkdir()
    (root / "ControlNet" / "tiny-cn").symlink_to(cn_models_dir / "ControlNet" / "tiny-cn", target_is_directory=True)
    lora = save_tiny_lora(tiny_models_dir / "Stable-diffusion" / "tiny-a", root / "Lora" / "ink.safetensors", 1,
                          {"modelspec.trigger_phrase": "inky"})
    Image.new("RGB", (64, 64), (200, 40, 40)).save(lora.with_suffix(".png"))
    return root


@pytest.fixture(scope="session")
def webui_server(browser_models_dir, tmp_path_factory):
    """(url, outputs_dir) of a running webui.py; its log is in the server tmp dir."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    with served_webui(tmp_path_factory.mktemp("webui"), browser_models_dir) as served:
        yield served


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, webui_server):
    """A fresh tab on the app, loaded and ready (the Generate button is visible)."""
    from playwright.sync_api import expect

    url, _ = webui_server
    # Software rendering on a loaded 2-core machine: UI updates can take many seconds (see NOTES-gradio.md).
    expect.set_options(timeout=30_000)
    tab = browser_context.new_page()
    tab.goto(url, timeout=60_000)
    expect(tab.locator("#txt2img_generate")).to_be_visible(timeout=60_000)
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture
def artifacts_dir(tmp_path_factory) -> Path:
    """Where tests put screenshots; kept under pytest's basetemp for a look afterwards."""
    return tmp_path_factory.mktemp("browser-artifacts", numbered=True)
