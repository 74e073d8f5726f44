"""Pieces of the extension UI that need no browser: the status table, section values by name, the flags."""

from __future__ import annotations

from types import SimpleNamespace

from modules.core.settings import settings_from_args
from modules.service.extensions import FAILED, LOADED, Extension, ExtensionHost


def test_status_table_lists_every_extension_and_escapes_errors(tmp_path):
    from modules.ui.extensions_tab import status_rows, table_html

    host = ExtensionHost([
        Extension("good", tmp_path, {"version": "1.0"}, status=LOADED, api_version=1, load_ms=3.25),
        Extension("bad", tmp_path, status=FAILED, error="loading: ValueError: <script>alert(1)</script>"),
        Extension("off", tmp_path, enabled=False),
    ])
    rows = {r["name"]: r for r in status_rows(host)}
    assert rows["good"]["load_ms"] == "3.2" and rows["good"]["api"] == "1" and rows["good"]["version"] == "1.0"
    assert rows["off"]["enabled"] == "no" and rows["off"]["load_ms"] == ""
    html = table_html(host)
    assert 'data-extension="bad"' in html and "ext-problem" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_section_values_travel_by_extension_name_and_the_script_by_name():
    from modules.ui.extension_sections import NO_SCRIPT, PanelSections

    a, b, script = object(), object(), object()
    sections = PanelSections("txt2img", fields=[("styles", "styles", a), ("prompt-translate", "enabled", b)],
                             script=script, script_names={"X/Y/Z plot": "xyz-grid"})
    assert sections.components == [a, b, script]
    assert sections.extra([["Photo"], False, "X/Y/Z plot"]) == {
        "styles": {"styles": ["Photo"]}, "prompt-translate": {"enabled": False}, "script": "xyz-grid"}
    assert "script" not in sections.extra([[], True, NO_SCRIPT])

    calls = []

    def handler(*values, request, extra):
        calls.append((values, request, extra))
        yield "done"

    wrapped = sections.wrap(handler, 2)
    assert list(wrapped("req", "p", "n", ["Photo"], True, NO_SCRIPT)) == ["done"]
    assert calls == [(("p", "n"), "req", {"styles": {"styles": ["Photo"]}, "prompt-translate": {"enabled": True}})]


def test_extension_flags():
    settings = settings_from_args(["--enable-insecure-extension-access", "--disable-all-extensions"])
    assert settings.enable_insecure_extension_access and settings.disable_all_extensions
    plain = settings_from_args([])
    assert not plain.enable_insecure_extension_access and not plain.disable_all_extensions


def test_shipped_extensions_import_only_the_extension_api_from_modules():
    from pathlib import Path

    from tests.unit.test_import_rules import imports_of

    root = Path(__file__).resolve().parents[2] / "extensions"
    sources = sorted(root.rglob("*.py"))
    assert len(sources) >= 4
    bad = []
    for path in sources:
        for imp in imports_of(path.read_text(encoding="utf-8"), path.relative_to(root.parent).as_posix()):
            if imp.top == "modules" and imp.name not in ("modules", "modules.extension_api"):
                bad.append(f"{path.relative_to(root)}:{imp.line} imports {imp.name}")
    assert not bad, "extensions may import only modules.extension_api:\n" + "\n".join(bad)


def test_extension_settings_form_saves_each_extension_under_its_name(tmp_path):
    import gradio as gr

    from modules.core.settings import SettingsStore
    from modules.extension_api import ExtensionApi, ExtensionSettings
    from modules.ui.extensions_tab import _settings_section

    store = SettingsStore(tmp_path / "settings.json", {})
    exts = []
    for name in ("one", "two"):
        api = ExtensionApi(name, tmp_path, ExtensionSettings(store, name))
        api.add_setting("size", 3)
        api.add_setting("mode", "a", choices=["a", "b"])
        exts.append(Extension(name, tmp_path, status=LOADED, api=api))
    with gr.Blocks() as demo:
        _settings_section(exts, None)  # no accounts: the local user saves
    [dependency] = [d for d in demo.fns.values() if d.name == "apply"]
    no_login = SimpleNamespace(username=None)
    assert dependency.fn(no_login, 5, "b", 7, "c").startswith("Not all saved: two: Setting 'mode' must be one of")
    assert store.get("extension_settings")["one"] == {"size": 5, "mode": "b"}
    assert "two" not in store.get("extension_settings")
