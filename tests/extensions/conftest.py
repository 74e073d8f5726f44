"""Tests of the shipped extensions, loaded the way the app loads them."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from modules.service.extensions import LOADED, Extension, import_package, load_one

SHIPPED = Path(__file__).resolve().parents[2] / "extensions"


def shipped_module(extension: str, module: str) -> ModuleType:
    """One of a shipped extension's own modules (e.g. ("styles", "styles"))."""
    return importlib.import_module(f"{import_package(SHIPPED / extension)}.{module}")


def load_shipped(name: str, store=None, **registries) -> Extension:
    ext = load_one(SHIPPED / name, store=store, **registries)
    assert ext.status == LOADED, f"{name}: {ext.status}: {ext.error}\n{ext.details}"
    return ext


@pytest.fixture
def settings_store(tmp_path):
    from modules.core.settings import SettingsStore

    return SettingsStore(tmp_path / "settings.json", {})
