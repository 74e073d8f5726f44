"""The canvas on a 2048 px page against a 256 px page, side by side: time per pointer move (stroke drawn and the
frame rendered) while one long stroke is drawn, and time to commit the stroke.

Each move waits for the next animation frame, so a move costs what an artist waits for. The canvas draws the
stroke in progress into one page-sized canvas and composites the layers once per frame: the cost follows the
page's area, never the length of the history. Run from the repository root (chromium, no GPU):

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_canvas.py [--moves 120] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _answers, _free_port  # noqa: E402

STROKE_JS = """async ([moves]) => {
  const el = document.querySelector('#canvas canvas[data-canvas-surface]');
  const r = el.getBoundingClientRect();
  const ev = (type, i) => new PointerEvent(type, {pointerId: 7, pointerType: 'pen', pressure: 0.6, button: 0,
      buttons: 1, bubbles: true, clientX: r.left + 20 + (r.width - 40) * i / moves,
      clientY: r.top + r.height / 2 + 60 * Math.sin(i / 9)});
  const frame = () => new Promise(requestAnimationFrame);
  el.dispatchEvent(ev('pointerdown', 0));
  await frame();
  const t0 = performance.now();
  for (let i = 1; i <= moves; i++) { el.dispatchEvent(ev('pointermove', i)); await frame(); }
  const t1 = performance.now();
  el.dispatchEvent(ev('pointerup', moves));
  await frame();
  const t2 = performance.now();
  // the script's own cost per move (stroke redrawn into the stroke canvas), frames not awaited
  el.dispatchEvent(ev('pointerdown', 0));
  const t3 = performance.now();
  for (let i = 1; i <= moves; i++) el.dispatchEvent(ev('pointermove', i));
  const t4 = performance.now();
  el.dispatchEvent(ev('pointerup', moves));
  await frame();
  return [(t1 - t0) / moves, t2 - t1, (t4 - t3) / moves];
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-canvas-"))
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/browser/canvas_app.py"), str(port), str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while not _answers(url):
            if proc.poll() is not None:
                raise SystemExit("the canvas app did not start")
            time.sleep(0.5)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(str(work / "profile"), executable_path=str(CHROMIUM),
                                                            headless=True, args=CHROMIUM_ARGS,
                                                            viewport={"width": 1280, "height": 1000})
            results: dict[str, list[tuple[float, float, float]]] = {"256x192": [], "2048x2048": []}
            for _ in range(args.rounds):
                for name in results:  # interleaved, a fresh page each time
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_selector("#canvas canvas[data-canvas-surface]")
                    if name == "2048x2048":
                        page.click("#big")
                        page.wait_for_function("document.querySelector('#canvas [data-canvas-readout=zoom]')"
                                               ".textContent.trim() !== '238%'", timeout=60_000)
                    for _ in range(3):  # strokes before the measured one: history must not slow it down
                        page.evaluate(STROKE_JS, [20])
                    results[name].append(tuple(page.evaluate(STROKE_JS, [args.moves])))
                    page.close()
            context.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    def median(name: str, column: int) -> float:
        return statistics.median(row[column] for row in results[name])

    print(f"{'page':>10} {'ms per move+frame':>18} {'ms to commit':>13} {'script ms per move':>19}")
    for name in results:
        print(f"{name:>10} {median(name, 0):18.1f} {median(name, 1):13.1f} {median(name, 2):19.2f}")
    print(f"ratio 2048x2048 / 256x192: per move+frame {median('2048x2048', 0) / median('256x192', 0):.2f}, "
          f"script per move {median('2048x2048', 2) / median('256x192', 2):.2f}")


if __name__ == "__main__":
    main()
