"""History tab helpers: reading the form, who sees what, the thumbnail grid."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from modules.service.accounts import Account, Accounts, _memory_hash
from modules.service.history import History
from modules.service.outputs import OutputStore
from modules.ui.history_tab import details_html, grid, import_as, make_query, scope_of


def test_make_query_reads_sizes_and_dates_and_explains_mistakes():
    query = make_query("fox", "", "", "txt2img", "512x768", "2024-05-01", "2024-05-01", True)
    assert (query.width, query.height, query.mode, query.trashed) == (512, 768, "txt2img", True)
    assert query.until - query.since == 86400  # "to" includes its whole day
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        make_query("", "", "", "", "512", "", "", False)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        make_query("", "", "", "", "", "May 1st", "", False)


def test_scope_users_see_their_own_admins_and_open_instances_see_all():
    accounts = Accounts([Account("alice", _memory_hash("a")), Account("root", _memory_hash("r"), "admin")])
    services = SimpleNamespace(accounts=accounts)
    assert scope_of(services, SimpleNamespace(username="alice")) == "alice"
    assert scope_of(services, SimpleNamespace(username="root")) is None
    assert scope_of(services, SimpleNamespace(username=None)) is None  # no login: a single-user instance
    # Accounts unknown to the tab (e.g. built without them): a logged-in user still sees only their own.
    assert scope_of(SimpleNamespace(accounts=None), SimpleNamespace(username="root")) == "root"


def test_grid_shows_thumbnails_and_skips_vanished_files(tmp_path):
    history = History(tmp_path)
    store = OutputStore(tmp_path, index=history)
    kept = store.save(Image.new("RGB", (600, 300)), "txt2img-images", 1, "kept\nSteps: 1, Seed: 1, Size: 8x8")
    gone = store.save(Image.new("RGB", (8, 8)), "txt2img-images", 2, "gone\nSteps: 1, Seed: 2, Size: 8x8")
    gone.unlink()
    entries = history.search().entries
    items, ids = grid(history, entries)
    assert ids == [e.id for e in entries if e.prompt == "kept"]
    thumb, caption = items[0]
    assert thumb.endswith(".webp") and thumb != str(kept) and "seed 1" in caption
    with Image.open(thumb) as image:
        assert max(image.size) == 256
    history.close()


def test_details_escape_what_the_picture_says(tmp_path):
    history = History(tmp_path)
    store = OutputStore(tmp_path, index=history)
    text = "<script>alert(1)</script>\nSteps: 1, Seed: 1, Size: 8x8"
    store.save(Image.new("RGB", (8, 8)), "txt2img-images", 1, text)
    page = details_html(history.search().entries[0])
    assert "<script>" not in page and "&lt;script&gt;" in page
    history.close()


def test_only_admins_import_server_folders_and_for_existing_users(tmp_path):
    folder = tmp_path / "a1111" / "txt2img-images"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "00000-1.png")
    accounts = Accounts([Account("alice", _memory_hash("a")), Account("root", _memory_hash("r"), "admin")])
    history = History(tmp_path / "outputs")
    services = SimpleNamespace(accounts=accounts, history=history)
    source = str(tmp_path / "a1111")
    with pytest.raises(PermissionError, match="Only an admin"):
        import_as(services, source, "", SimpleNamespace(username="alice"))
    with pytest.raises(ValueError, match="no account 'mallory'"):
        import_as(services, source, "mallory", SimpleNamespace(username="root"))
    with pytest.raises(ValueError, match="full path"):
        import_as(services, "a1111", "alice", SimpleNamespace(username="root"))
    assert history.search().total == 0
    assert "1 picture(s) imported" in import_as(services, source, "alice", SimpleNamespace(username="root"))
    assert history.search(owner="alice").total == 1
    history.close()
