"""Startup cost of the shipped extensions: building the app with all of them over building it with none.

Side by side in one process, interleaved so that a busy CPU slows both sides alike. One measurement is what
webui.py does between building the services and serving: load extensions/ (import, check requirements, run
setup), build the REST app, build the Gradio UI and mount it. Services are built fresh for each measurement
and not timed (the same for both sides). The first round of each side is a warm-up and not counted (Gradio
and the extensions' modules are imported then, as they are once per real start).

Two ratios are printed: of that build phase alone (strict: a few dozen extra Gradio components already cost
a noticeable share of it), and of the whole start, which also pays once for importing the app (torch,
diffusers, gradio; measured cold at the top of this run) and for building the services. Goal (issue
"Extensions"): startup with all / none <= 1.10.

Python compiles each extension's sources at every start when bytecode caching is off (PYTHONDONTWRITEBYTECODE),
as on some CI machines; run with it unset for what users see.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_extensions.py --rounds 5
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def import_app() -> float:
    """Seconds to import what webui.py imports before building (cold: the first thing this run does)."""
    started = time.perf_counter()
    import modules.api.app  # noqa: F401
    import modules.service.services  # noqa: F401
    import modules.ui.app  # noqa: F401

    return time.perf_counter() - started


def build_once(extensions_dir: Path, workdir: Path, models_dir: Path) -> tuple[float, float, int]:
    """Seconds to build the services; to load the extensions and build the app; how many extensions loaded."""
    from modules.api.app import build_app
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services, start_extensions
    from modules.ui.app import build_ui, mount_ui

    settings = settings_from_args(["--models-dir", str(models_dir), "--extensions-dir", str(extensions_dir),
                                   "--outputs-dir", str(workdir / "outputs"),
                                   "--settings-file", str(workdir / "settings.json"), "--device", "cpu"])
    started = time.perf_counter()
    services = build_services(settings)
    services_seconds = time.perf_counter() - started
    started = time.perf_counter()
    host = start_extensions(services)
    app = build_app(services)
    mount_ui(app, build_ui(services), services)
    return services_seconds, time.perf_counter() - started, len(host.active())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds per side (after one warm-up)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--extensions-dir", type=Path, default=ROOT / "extensions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    imports = import_app()
    services_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir, empty = Path(tmp), Path(tmp) / "no-extensions"
        empty.mkdir()
        times: dict[str, list[float]] = {"none": [], "all": []}
        loaded = 0
        for round_ in range(args.rounds + 1):
            for side, folder in (("none", empty), ("all", args.extensions_dir)):
                services_seconds, seconds, count = build_once(folder, workdir, args.models_dir)
                loaded = max(loaded, count)
                if round_ > 0:
                    times[side].append(seconds)
                    services_times.append(services_seconds)
    none, all_ = statistics.median(times["none"]), statistics.median(times["all"])
    print(f"app build with no extensions:        median {none * 1000:8.1f} ms  "
          f"({', '.join(f'{t * 1000:.0f}' for t in times['none'])})")
    print(f"app build with {loaded} shipped extensions: median {all_ * 1000:8.1f} ms  "
          f"({', '.join(f'{t * 1000:.0f}' for t in times['all'])})")
    # The fastest round is the least disturbed by other work on the machine: its ratio is the steadier one.
    print(f"build-phase ratio all/none: {all_ / none:.3f} (medians), "
          f"{min(times['all']) / min(times['none']):.3f} (fastest rounds)")
    fixed = imports + statistics.median(services_times)
    print(f"startup (imports {imports:.2f} s + services {statistics.median(services_times):.2f} s + build): "
          f"none {fixed + none:.2f} s, all {fixed + all_:.2f} s, ratio all/none: {(fixed + all_) / (fixed + none):.3f}"
          "  (goal <= 1.10)")


if __name__ == "__main__":
    main()
