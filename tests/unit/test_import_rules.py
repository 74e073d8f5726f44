"""The rules of direction (DESIGN.md), checked from the imports of every module.

- only modules/ui imports gradio; only modules/ui and modules/api import FastAPI/Starlette/uvicorn;
- the core never imports modules.ui or modules.api (webui.py, the composition root, may);
- prompts, infotext, requests and settings import only the standard library, PIL and each other;
- importing a module does no work: in particular it starts no thread.

Imports inside functions count too: a lazy `import gradio` in the core is still a dependency on it.
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

UI_ONLY = {"gradio", "gradio_client"}
WEB_ONLY = {"fastapi", "starlette", "uvicorn"}
PLAIN_MODULES = ("modules/prompts.py", "modules/infotext.py", "modules/requests.py", "modules/settings.py")
PLAIN_ALLOWED_LOCAL = {"modules." + Path(p).stem for p in PLAIN_MODULES}
# Agreed exceptions to the standard-library-and-PIL rule, per file (each explained where it is imported).
PLAIN_EXCEPTIONS = {"modules/prompts.py": {"lark"}}  # A1111 parses prompts with lark's Earley parser


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


def _inside(rel: str, folder: str) -> bool:
    return rel.startswith(folder.rstrip("/") + "/")


def violations(source: str, rel: str) -> list[str]:
    """The rule breaks of one file, as readable lines ('' list = clean)."""
    out: list[str] = []
    in_ui, in_api = _inside(rel, "modules/ui"), _inside(rel, "modules/api")
    for imp in imports_of(source, rel):
        where = f"{rel}:{imp.line} imports {imp.name}"
        if imp.top in UI_ONLY and not in_ui:
            out.append(f"{where}: only modules/ui may import gradio")
        if imp.top in WEB_ONLY and not (in_ui or in_api):
            out.append(f"{where}: only modules/ui and modules/api may import {imp.top}")
        is_ui_or_api = imp.name in ("modules.ui", "modules.api") or imp.name.startswith(("modules.ui.", "modules.api."))
        if is_ui_or_api and not (in_ui or in_api) and rel != "webui.py":
            out.append(f"{where}: the core must not depend on the UI or the API (rules of direction)")
        if rel in PLAIN_MODULES:
            parts = imp.name.split(".")
            prefixes = {".".join(parts[:i]) for i in range(2, len(parts) + 1)}  # modules.x, modules.x.Name
            plain = imp.top in sys.stdlib_module_names or imp.top == "PIL" or bool(prefixes & PLAIN_ALLOWED_LOCAL)
            plain = plain or imp.top in PLAIN_EXCEPTIONS.get(rel, ())
            plain = plain or imp.name == "modules"  # `from modules import infotext` names the package too
            if not plain:
                out.append(f"{where}: {rel} may import only the standard library, PIL, "
                           f"and {', '.join(sorted(PLAIN_ALLOWED_LOCAL))}")
    return out


def project_sources() -> list[str]:
    files = sorted(p.relative_to(ROOT).as_posix() for p in MODULES.rglob("*.py"))
    if (ROOT / "webui.py").exists():
        files.append("webui.py")
    return files


# ---------------------------------------------------------------------------------------------- self-tests


@pytest.mark.parametrize(("rel", "source", "expected"), [
    ("modules/jobs.py", "import gradio as gr\n", "only modules/ui may import gradio"),
    ("modules/jobs.py", "def f():\n    from gradio.components import Image\n", "only modules/ui may import gradio"),
    ("modules/api/routes.py", "import gradio\n", "only modules/ui may import gradio"),
    ("modules/generation.py", "from fastapi import FastAPI\n", "may import fastapi"),
    ("modules/models/manager.py", "import starlette.responses\n", "may import starlette"),
    ("modules/jobs.py", "from modules.ui import app\n", "must not depend on the UI"),
    ("modules/jobs.py", "from modules import api\n", "must not depend on the UI"),
    ("modules/models/manager.py", "from ..api import schemas\n", "must not depend on the UI"),
    ("modules/requests.py", "import torch\n", "may import only the standard library"),
    ("modules/infotext.py", "from modules.generation import generate\n", "may import only the standard library"),
    ("modules/settings.py", "import numpy as np\n", "may import only the standard library"),
    ("modules/requests.py", "import lark\n", "may import only the standard library"),  # prompts.py's exception only
    ("modules/prompts.py", "import torch\n", "may import only the standard library"),
])
def test_checker_flags_bad_source(rel, source, expected):
    found = violations(source, rel)
    assert found, f"the checker missed a violation in {rel}: {source!r}"
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(("rel", "source"), [
    ("modules/ui/app.py", "import gradio as gr\nfrom modules.jobs import JobQueue\nfrom . import txt2img\n"),
    ("modules/api/app.py", "from fastapi import FastAPI\nfrom starlette.requests import Request\n"),
    ("webui.py", "from modules.ui.app import build_ui\n"),
    ("modules/requests.py", "from __future__ import annotations\nimport json, random\nfrom PIL import Image\n"),
    ("modules/infotext.py", "from modules import requests\nfrom modules.settings import Settings\n"),
    ("modules/generation.py", "import torch\nfrom modules.requests import GenerationRequest\n"),
    ("modules/prompts.py", "import lark\nfrom lark import Lark, Transformer\n"),
])
def test_checker_accepts_allowed_imports(rel, source):
    assert violations(source, rel) == []


def test_relative_imports_are_resolved():
    names = {i.name for i in imports_of("from . import app\nfrom ..jobs import Job\n", "modules/ui/txt2img.py")}
    assert {"modules.ui.app", "modules.jobs", "modules.jobs.Job"} <= names


# ---------------------------------------------------------------------------------------------- the project


def test_project_follows_the_rules_of_direction():
    files = project_sources()
    assert "modules/jobs.py" in files and "modules/requests.py" in files  # the scan sees the project
    problems = []
    for rel in files:
        problems.extend(violations((ROOT / rel).read_text(encoding="utf-8"), rel))
    assert not problems, "import rules broken:\n" + "\n".join(problems)


@pytest.mark.parametrize("rel", PLAIN_MODULES)
def test_plain_modules_import_only_the_standard_library_and_pil(rel):
    if not (ROOT / rel).exists():
        pytest.skip(f"{rel} is not written yet")
    assert violations((ROOT / rel).read_text(encoding="utf-8"), rel) == []


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
    names = [module_name(rel) for rel in project_sources() if rel != "webui.py"] + ["webui"]
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
