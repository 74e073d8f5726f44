"""styles: A1111's styles.csv and {prompt} rules, applied through the extension's hooks."""

from __future__ import annotations

import json
import shutil

import pytest

from modules.extension_api import GenerationRequest
from modules.service.extensions import LOADED, load_one
from tests.extensions.conftest import SHIPPED, load_shipped, shipped_module

A1111_FILE = (
    "\ufeffname,prompt,negative_prompt\n"
    'Cinematic,"cinematic still of {prompt}, film grain","cartoon, {prompt}"\n'
    "Plain,vivid colours,\n"
    ',"no name, skipped",\n'
    '"Quoted, name","a ""quoted"" word",bad\n'
)


@pytest.fixture
def styles():
    return shipped_module("styles", "styles")


def test_merge_follows_a1111_placeholder_rules(styles):
    assert styles.merge("cinematic still of {prompt}, film grain", "a cat") == "cinematic still of a cat, film grain"
    assert styles.merge("vivid colours", "a cat") == "a cat, vivid colours"
    assert styles.merge("vivid colours", "") == "vivid colours"
    assert styles.merge("", "a cat") == "a cat"
    assert styles.merge("{prompt} and {prompt}", "x") == "x and x"


def test_styles_apply_in_the_order_chosen(styles):
    a, b = styles.Style("a", "A {prompt}", "na"), styles.Style("b", "{prompt} B", "{prompt} nb")
    assert styles.apply_styles("cat", "ugly", [a, b]) == ("A cat B", "ugly, na nb")
    assert styles.apply_styles("cat", "ugly", [b, a]) == ("A cat B", "ugly nb, na")


def test_an_a1111_file_reads_and_round_trips(styles, tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(A1111_FILE, encoding="utf-8")
    loaded = styles.StyleFile(path).load()
    assert list(loaded) == ["Cinematic", "Plain", "Quoted, name"]
    assert loaded["Cinematic"].negative_prompt == "cartoon, {prompt}"
    assert loaded["Quoted, name"].prompt == 'a "quoted" word'
    store = styles.StyleFile(path)
    store.put(styles.Style("New", "new {prompt}", ""))
    assert path.read_text(encoding="utf-8").splitlines()[0] == "name,prompt,negative_prompt"
    assert list(store.load()) == ["Cinematic", "Plain", "Quoted, name", "New"]
    assert store.delete("Plain") and not store.delete("Plain")
    assert store.load()["Quoted, name"] == loaded["Quoted, name"]


def test_old_files_with_a_text_column_still_read(styles):
    assert styles.parse("name,text\nOld,old style\n")["Old"].prompt == "old style"


def copied_styles(tmp_path, store):
    """The styles extension loaded from a copy, so its folder can hold the test's styles files."""
    folder = tmp_path / "styles"
    shutil.copytree(SHIPPED / "styles", folder, ignore=shutil.ignore_patterns("__pycache__"))
    ext = load_one(folder, store=store)
    assert ext.status == LOADED, ext.error
    return ext


def test_hooks_apply_the_chosen_styles_and_record_them(settings_store, tmp_path):
    ext = copied_styles(tmp_path, settings_store)
    path = ext.api.folder / "my-styles.csv"
    path.write_text(A1111_FILE, encoding="utf-8")
    ext.api.settings.update({"styles_file": "my-styles.csv"})
    [before] = ext.api.contributions.hooks["before_generate"]
    [after] = ext.api.contributions.hooks["after_generate"]
    request = GenerationRequest(prompt="a cat", negative_prompt="blurry",
                                extra={"styles": {"styles": ["Cinematic", "Plain", "Missing"]}})
    changed = before(request)
    assert changed.prompt == "cinematic still of a cat, film grain, vivid colours"
    assert changed.negative_prompt == "cartoon, blurry"

    class Result:
        def __init__(self, req):
            self.request, self.infotexts, self.warnings = req, ["a\nSteps: 1"], []

    result = Result(changed)
    after(result)
    assert result.infotexts[0].endswith(f"Styles array: {json.dumps(json.dumps(['Cinematic', 'Plain']))}")
    assert result.warnings == [f"Style 'Missing' is not in {path}; it was not applied."]
    assert before(GenerationRequest(prompt="a cat")) is None  # no styles chosen: the request is untouched


def test_the_list_route_lists_the_shipped_styles(settings_store):
    ext = load_shipped("styles", settings_store)
    [route] = ext.api.contributions.routes
    names = [s["name"] for s in route.endpoint()]
    assert "Photo" in names and "Watercolor" in names


@pytest.mark.parametrize("value", ["/tmp/x.pth", "/usr/lib/python3/dist-packages/evil.pth", "../styles.csv",
                                   "../../etc/passwd", "sub/x.csv", "sub\\x.csv", "x.pth", "styles.csv.pth", ".x.csv",
                                   "..csv", "~/styles.csv", "x\x00.csv", "a" * 200 + ".csv"])
def test_the_styles_file_setting_is_never_a_path_on_the_server(settings_store, tmp_path, value):
    ext = copied_styles(tmp_path, settings_store)
    with pytest.raises(ValueError, match="plain file name ending .csv"):
        ext.api.settings.update({"styles_file": value})
    assert ext.api.settings.get("styles_file") == ""
    assert "extension_settings" not in settings_store.values  # nothing was saved


def test_a_styles_file_linked_out_of_the_extension_folder_is_refused(settings_store, tmp_path):
    ext = copied_styles(tmp_path, settings_store)
    outside = tmp_path / "secret.csv"
    outside.write_text("name,prompt\nSecret,the secret\n", encoding="utf-8")
    (ext.api.folder / "linked.csv").symlink_to(outside)
    with pytest.raises(ValueError, match="link"):
        ext.api.settings.update({"styles_file": "linked.csv"})
    ext.api.settings.update({"styles_file": "studio.csv"})  # a new plain file in the folder is fine
    [before] = ext.api.contributions.hooks["before_generate"]
    changed = before(GenerationRequest(prompt="a cat", extra={"styles": {"styles": ["Photo"]}}))
    assert changed.extra["styles"]["missing"] == ["Photo"]  # studio.csv does not exist yet: nothing applied


def test_a_path_saved_by_an_older_version_is_not_used(settings_store, tmp_path):
    """A free path left in the settings file (the setting accepted one before) falls back to the default file."""
    target = tmp_path / "site-packages" / "evil.pth"
    settings_store.update({"extension_settings": {"styles": {"styles_file": str(target)}}})
    ext = copied_styles(tmp_path, settings_store)
    [route] = ext.api.contributions.routes
    assert "Photo" in [s["name"] for s in route.endpoint()]  # read from the extension's own styles.csv
    [before] = ext.api.contributions.hooks["before_generate"]
    changed = before(GenerationRequest(prompt="a cat", extra={"styles": {"styles": ["Photo"]}}))
    assert changed.extra["styles"]["applied"] == ["Photo"]
    assert not target.parent.exists()
