"""Every name a module lists in `__all__` exists in it: `from module import *` (which extensions and notebooks use)
raises AttributeError on a name that was renamed or removed and left in the list. Checked from the source, so no
module is imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _targets(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Tuple, ast.List)):
        return set().union(*(_targets(e) for e in node.elts))
    return set()


def top_level_names(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level, in branches (`if TYPE_CHECKING`, try/except) included."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names |= _targets(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names |= _targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def missing_exports(source: str) -> list[str]:
    """The names `__all__` lists that the module never defines (an `__all__` built at run time is not checked)."""
    tree = ast.parse(source)
    listed: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                listed = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    defined = top_level_names(tree)
    return [name for name in listed if name not in defined]


def test_the_check_finds_a_listed_name_that_is_not_defined():
    source = "from os import path\n\ndef kept():\n    pass\n\nX = 1\n__all__ = ['kept', 'path', 'X', 'removed']\n"
    assert missing_exports(source) == ["removed"]


def test_every_listed_name_is_defined():
    offenders = []
    for folder in ("modules", "training", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            missing = missing_exports(path.read_text(encoding="utf-8"))
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in missing]
    assert offenders == []
