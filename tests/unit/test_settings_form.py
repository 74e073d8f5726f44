"""Saving the Settings form writes only what this admin changed, and never undoes another admin's newer value."""

from __future__ import annotations

import json

from modules.core.settings import SettingsStore

DEFAULTS = {"preview_every": 5, "default_negative_prompt": ""}


def test_only_the_changed_field_is_written(tmp_path):
    store = SettingsStore(tmp_path / "settings.json", DEFAULTS)
    seen = dict(DEFAULTS)
    saved, conflicts = store.update_from(seen, {"preview_every": 5, "default_negative_prompt": "blurry"})
    assert (saved, conflicts) == ({"default_negative_prompt": "blurry"}, {})
    assert json.loads((tmp_path / "settings.json").read_text())["default_negative_prompt"] == "blurry"


def test_two_admins_with_the_page_open_keep_each_others_changes(tmp_path):
    store = SettingsStore(tmp_path / "settings.json", DEFAULTS)
    first, second = dict(DEFAULTS), dict(DEFAULTS)  # both pages opened before anyone saved
    store.update_from(first, {"preview_every": 10, "default_negative_prompt": ""})
    saved, conflicts = store.update_from(second, {"preview_every": 5, "default_negative_prompt": "lowres"})
    assert saved == {"default_negative_prompt": "lowres"} and conflicts == {}
    assert (store.get("preview_every"), store.get("default_negative_prompt")) == (10, "lowres")


def test_a_field_both_changed_is_refused_with_the_newer_value(tmp_path):
    store = SettingsStore(tmp_path / "settings.json", DEFAULTS)
    first, second = dict(DEFAULTS), dict(DEFAULTS)
    store.update_from(first, {"preview_every": 10, "default_negative_prompt": ""})
    saved, conflicts = store.update_from(second, {"preview_every": 2, "default_negative_prompt": ""})
    assert saved == {} and conflicts == {"preview_every": 10}
    assert store.get("preview_every") == 10
    # Refilled with what is stored, the form saves the same field again.
    saved, conflicts = store.update_from({**second, "preview_every": 10}, {"preview_every": 2})
    assert saved == {"preview_every": 2} and conflicts == {}


def test_coming_back_to_the_tab_keeps_an_unapplied_edit_and_refreshes_the_rest():
    from modules.ui.settings_tab import keep_edits

    seen = {"preview_every": 5, "default_negative_prompt": ""}
    form = {"preview_every": 5, "default_negative_prompt": "lowres"}  # typed, not applied yet
    stored = {"preview_every": 10, "default_negative_prompt": ""}  # another admin changed the other field
    seen_now, shown = keep_edits(seen, form, stored)
    assert shown == {"preview_every": 10, "default_negative_prompt": "lowres"}
    assert seen_now == {"preview_every": 10, "default_negative_prompt": ""}
    assert keep_edits({}, form, stored) == (stored, stored)  # before the page load's read: what is stored
