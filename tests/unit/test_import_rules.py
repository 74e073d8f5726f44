"""The rules of direction (DESIGN.md), checked from the imports of every module, per layer folder.

- `modules/core/` imports only the standard library, PIL, lark and itself: never torch, nothing above it;
- `modules/engine/` never imports `service/`, `api/`, `ui/`, gradio or FastAPI/Starlette/uvicorn;
- `modules/service/` never imports `api/` or `ui/` (nor gradio or FastAPI);
- `modules/api/` and `modules/ui/` never import each other; gradio only in `ui/`, FastAPI only in `api/` and `ui/`;
- torch and the model libraries are imported only in `engine/` (and by the offline trainer, `training/`);
- extensions import only `modules.extension_api`; the app never imports `training/`;
- no import cycle between the project's modules;
- importing a module does no work: in particular it starts no thread.

Imports inside functions count too: a lazy `import gradio` in the engine is still a dependency on it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "modules"

LAYERS = ("core", "engine", "service", "api", "ui")
# What each layer may import of the project (besides itself); extension_api is the public contract and sits
# beside the service, above the engine.
MAY_USE = {
    "core": {"core"},
    "engine": {"core", "engine"},
    "service": {"core", "engine", "service", "extension_api"},
    "extension_api": {"core", "engine"},
    "api": {"core", "engine", "service", "api", "extension_api"},
    "ui": {"core", "engine", "service", "ui", "extension_api"},
}
UI_ONLY = {"gradio", "gradio_client"}
WEB_ONLY = {"fastapi", "starlette", "uvicorn"}
# Libraries that only the engine (and the offline trainer) may load: they are what makes the app heavy.
ENGINE_ONLY = {"torch", "torchvision", "diffusers", "transformers", "peft", "accelerate", "safetensors", "spandrel",
               "controlnet_aux", "torchsde", "numpy", "cv2"}
# The core's dependencies: plain data and A1111 formats (lark: A1111 parses prompts with its Earley parser).
CORE_ALLOWED = {"PIL", "lark"}


@dataclass(frozen=True)
class Import:
    name: str  # the full dotted module name imported (relative imports resolved)
    line: int

    @property
    def top(self) -> str:
        return self.name.split(".")[0]


def module_name(rel: str) -> str:
    """'modules/ui/app.py' -> 'modules.ui.app'; 'modules/ui/__init__.py' -> 'modules.ui'."""
    parts = list(Path(rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, rel: str) -> list[Import]:
    """Every module a source file imports, anywhere in it, as absolute dotted names.

    `from pkg import name` yields both `pkg` and `pkg.name` (name may be a submodule: `from modules import ui`).
    """
    tree = ast.parse(source, filename=rel)
    package = module_name(rel) if rel.endswith("__init__.py") else module_name(rel).rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if node.module or not node.level:
                found.append(Import(base, node.lineno))
            for alias in node.names:
                if alias.name != "*":
                    found.append(Import(f"{base}.{alias.name}" if base else alias.name, node.lineno))
    return found


def layer_of(rel: str) -> str | None:
    """'modules/engine/models/manager.py' -> 'engine'; 'modules/extension_api.py' -> 'extension_api'."""
    parts = Path(rel).parts
    if parts[0] != "modules" or len(parts) < 2:
        return None
    if parts[1] in LAYERS:
        return parts[1]
    return Path(parts[1]).stem if parts[1].endswith(".py") and parts[1] != "__init__.py" else None


def _project_layer(name: str) -> str | None:
    """The layer an imported dotted name belongs to ('modules.engine.hires' -> 'engine'), None if not ours."""
    parts = name.split(".")
    if parts[0] != "modules" or len(parts) < 2:
        return None
    return parts[1]


def violations(source: str, rel: str) -> list[str]:
    """The rule breaks of one file, as readable lines ('' list = clean)."""
    out: list[str] = []
    layer = layer_of(rel)
    for imp in imports_of(source, rel):
        where = f"{rel}:{imp.line} imports {imp.name}"
        if imp.top == "training" and not rel.startswith("training/"):
            out.append(f"{where}: the app never imports the offline trainer (training/)")
        if rel.startswith("extensions/"):
            if imp.top == "modules" and imp.name not in ("modules", "modules.extension_api") \
                    and not imp.name.startswith("modules.extension_api."):
                out.append(f"{where}: extensions import only modules.extension_api")
            continue
        if imp.top in UI_ONLY and layer != "ui":
            out.append(f"{where}: only modules/ui may import gradio")
        if imp.top in WEB_ONLY and layer not in ("ui", "api") and rel != "webui.py":
            out.append(f"{where}: only modules/ui and modules/api may import {imp.top}")
        if imp.top in ENGINE_ONLY and layer is not None and layer != "engine":
            out.append(f"{where}: only modules/engine may import {imp.top}")
        if layer is None:
            continue
        used = _project_layer(imp.name)
        if used is not None and used != "__init__" and used not in MAY_USE[layer]:
            out.append(f"{where}: modules/{layer} must not depend on modules/{used} (rules of direction)")
        if layer == "core" and imp.top != "modules" and imp.top not in sys.stdlib_module_names \
                and imp.top not in CORE_ALLOWED:
            out.append(f"{where}: modules/core may import only the standard library, PIL and lark")
    return out


def project_sources() -> list[str]:
    files = sorted(p.relative_to(ROOT).as_posix() for p in MODULES.rglob("*.py"))
    files += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "extensions").rglob("*.py"))
    if (ROOT / "webui.py").exists():
        files.append("webui.py")
    return files


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from pkg import name` of a submodule points at it)."""
    modules = {module_name(rel): rel for rel in sources}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, rel in modules.items():
        for imp in imports_of(sources[rel], rel):
            target = imp.name
            while target and target not in modules:  # 'modules.core.requests.Limits' -> 'modules.core.requests'
                target = target.rpartition(".")[0]
            if target and target != name and not sources[modules[target]].strip() == "" \
                    and not modules[target].endswith("__init__.py"):
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ---------------------------------------------------------------------------------------------- self-tests


@pytest.mark.parametrize(("rel", "source", "expected"), [
    ("modules/service/jobs.py", "import gradio as gr\n", "only modules/ui may import gradio"),
    ("modules/service/jobs.py", "def f():\n    from gradio.components import Image\n", "only modules/ui may import gradio"),
    ("modules/api/routes.py", "import gradio\n", "only modules/ui may import gradio"),
    ("modules/engine/generation.py", "from fastapi import FastAPI\n", "may import fastapi"),
    ("modules/engine/models/manager.py", "import starlette.responses\n", "may import starlette"),
    ("modules/service/jobs.py", "from modules.ui import app\n", "must not depend on modules/ui"),
    ("modules/service/jobs.py", "from modules import api\n", "must not depend on modules/api"),
    ("modules/engine/models/manager.py", "from ...api import schemas\n", "must not depend on modules/api"),
    ("modules/engine/hires.py", "from modules.service.outputs import OutputStore\n", "must not depend on modules/service"),
    ("modules/api/sdapi.py", "from modules.ui.txt2img import build\n", "must not depend on modules/ui"),
    ("modules/ui/txt2img.py", "def f():\n    from modules.api import convert\n", "must not depend on modules/api"),
    ("modules/core/requests.py", "import torch\n", "only modules/engine may import torch"),
    ("modules/core/infotext.py", "from modules.engine.generation import generate\n", "must not depend on modules/engine"),
    ("modules/core/settings.py", "import yaml\n", "modules/core may import only the standard library"),
    ("modules/service/jobs.py", "import torch\n", "only modules/engine may import torch"),
    ("modules/ui/app.py", "import numpy as np\n", "only modules/engine may import numpy"),
    ("modules/service/runner.py", "from training import shapes\n", "never imports the offline trainer"),
    ("extensions/x/extension.py", "from modules.core.requests import GenerationRequest\n", "only modules.extension_api"),
    ("extensions/x/extension.py", "from modules.engine import generation\n", "only modules.extension_api"),
])
def test_checker_flags_bad_source(rel, source, expected):
    found = violations(source, rel)
    assert found, f"the checker missed a violation in {rel}: {source!r}"
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(("rel", "source"), [
    ("modules/ui/app.py", "import gradio as gr\nfrom modules.service.jobs import JobQueue\nfrom . import txt2img\n"),
    ("modules/api/app.py", "from fastapi import FastAPI\nfrom starlette.requests import Request\n"),
    ("webui.py", "from modules.ui.app import build_ui\nfrom modules.api.app import build_app\n"),
    ("modules/core/requests.py", "from __future__ import annotations\nimport json, random\nfrom PIL import Image\n"),
    ("modules/core/infotext.py", "from modules.core import requests\nfrom modules.core.settings import Settings\n"),
    ("modules/core/prompts.py", "import lark\nfrom lark import Lark, Transformer\n"),
    ("modules/engine/generation.py", "import torch\nfrom modules.core.requests import GenerationRequest\n"),
    ("modules/service/runner.py", "from modules.engine.generation import generate\nfrom modules import extension_api\n"),
    ("extensions/x/extension.py", "from modules import extension_api as ext\nfrom .helper import f\n"),
    ("training/train.py", "import torch\nfrom training import shapes\n"),
])
def test_checker_accepts_allowed_imports(rel, source):
    assert violations(source, rel) == []


def test_relative_imports_are_resolved():
    names = {i.name for i in imports_of("from . import app\nfrom ..service.jobs import Job\n", "modules/ui/txt2img.py")}
    assert {"modules.ui.app", "modules.service.jobs", "modules.service.jobs.Job"} <= names


def test_cycle_finder_finds_a_cycle_through_a_function_level_import():
    sources = {
        "modules/engine/a.py": "from modules.engine import b\n",
        "modules/engine/b.py": "def f():\n    from modules.engine.a import g\n",
        "modules/engine/c.py": "from modules.engine.a import g\n",
    }
    assert cycles(import_graph(sources)) == [["modules.engine.a", "modules.engine.b"]]
    assert cycles(import_graph({k: v for k, v in sources.items() if not k.endswith("b.py")})) == []


# ---------------------------------------------------------------------------------------------- the project


def test_modules_shows_the_layers():
    entries = {p.name for p in MODULES.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "extension_api.py", *LAYERS}, sorted(entries)


def test_project_follows_the_rules_of_direction():
    files = project_sources()
    assert "modules/service/jobs.py" in files and "modules/core/requests.py" in files  # the scan sees the project
    problems = []
    for rel in files:
        problems.extend(violations((ROOT / rel).read_text(encoding="utf-8"), rel))
    assert not problems, "import rules broken:\n" + "\n".join(problems)


def test_the_offline_trainer_follows_its_rules_too():
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "training").rglob("*.py"))
    assert "training/train.py" in files
    problems = []
    for rel in files:
        problems.extend(line for line in violations((ROOT / rel).read_text(encoding="utf-8"), rel)
                        if "gradio" in line or "fastapi" in line or "modules/" in line)
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    sources = {rel: (ROOT / rel).read_text(encoding="utf-8") for rel in project_sources()
               if rel.startswith("modules/")}
    found = cycles(import_graph(sources))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


IMPORT_ALL = r"""
import importlib, json, sys, threading
names = json.loads(sys.argv[1])
before = threading.active_count()
failed, started = {}, {}
for name in names:
    count = threading.active_count()
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
    if threading.active_count() > count:
        started[name] = [t.name for t in threading.enumerate()]
print(json.dumps({"before": before, "after": threading.active_count(), "failed": failed, "started": started,
                  "threads": [t.name for t in threading.enumerate()]}))
"""


@pytest.mark.timeout(600)
def test_importing_every_module_starts_no_thread():
    names = [module_name(rel) for rel in project_sources() if rel.startswith("modules/")] + ["webui"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, json.dumps(names)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["failed"], f"modules that fail to import: {report['failed']}"
    assert not report["started"], f"importing these started threads: {report['started']}"
    assert report["after"] == report["before"], report["threads"]


def test_thread_check_catches_a_module_that_starts_a_thread(tmp_path):
    (tmp_path / "starts_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n")
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, json.dumps(["starts_thread"])], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "starts_thread" in report["started"]


LOADS_TORCH = "import sys, importlib; importlib.import_module(sys.argv[1]); print('torch' in sys.modules)"


@pytest.mark.parametrize("name", ["modules.service.jobs", "modules.core.requests", "modules.core.results",
                                  "modules.core.infotext", "modules.core.settings", "modules.core.prompts",
                                  "modules.core.validation", "modules.core.request_infotext"])
def test_plain_modules_load_without_torch(name):
    """The queue and the formats are light: importing them must not pull in torch (about 4 s)."""
    proc = subprocess.run([sys.executable, "-c", LOADS_TORCH, name], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False", f"importing {name} loads torch"
