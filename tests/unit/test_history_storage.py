"""The history when its storage fails: a damaged index is moved aside and rebuilt from the pictures; a folder
that can't be written or a full disk says what to check (HistoryUnavailable) instead of a bare error."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from PIL import Image

from modules.service.history import History, HistoryUnavailable, Query
from modules.service.outputs import OutputStore

WAIT = 30.0
NEW_SAVE = "a new save\nSteps: 20, Sampler: Euler a, Seed: 5, Size: 8x8, Model: tiny"


def save(outputs: OutputStore, prompt: str, user: str = "alice", seed: int = 1) -> Path:
    text = f"{prompt}\nSteps: 20, Sampler: Euler a, Seed: {seed}, Size: 8x8, Model: tiny"
    return outputs.save(Image.new("RGB", (8, 8), (seed * 40 % 255, 90, 200)), "txt2img-images", seed, text, user=user)


@pytest.fixture
def filled(tmp_path):
    """outputs/ with four pictures of alice and bob, one of them in the trash, and its index closed."""
    root = tmp_path / "outputs"
    history = History(root)
    outputs = OutputStore(root, index=history)
    for n, (user, prompt) in enumerate([("alice", "a red fox"), ("bob", "a blue whale"), ("alice", "a green owl"),
                                        ("alice", "a grey wolf")]):
        save(outputs, prompt, user, seed=n + 1)
    wolf = history.search(Query(text="wolf")).entries[0]
    history.trash(wolf.id)
    history.thumbnail(history.search(Query(text="fox")).entries[0])
    history.close()
    return root, wolf


def damage_pages(path: Path) -> None:
    """Overwrite the header of every page but the first two: 'database disk image is malformed'."""
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data), 4096):
        data[offset:offset + 12] = b"\x0d" + b"\xff" * 11
    path.write_bytes(bytes(data))


def live(history: History, owner: str | None = None) -> list[str]:
    return sorted(e.prompt for e in history.search(owner=owner).entries)


@pytest.mark.parametrize("damage", ["not a database", "malformed pages"])
def test_a_damaged_index_is_moved_aside_and_rebuilt_from_the_pictures(filled, damage, caplog):
    root, wolf = filled
    index = root / ".history" / "history.sqlite3"
    if damage == "not a database":
        index.write_bytes(b"this is no SQLite file " * 400)
    else:
        damage_pages(index)
    history = History(root)
    try:
        history.search(Query(text="fox"))  # answers (with what is rebuilt so far), never raises
        assert history.wait_for_rebuild(WAIT)
        assert live(history) == ["a blue whale", "a green owl", "a red fox"]
        assert live(history, "alice") == ["a green owl", "a red fox"]  # owners come back from the folders
        [trashed] = history.search(Query(trashed=True)).entries
        assert (trashed.id, trashed.prompt, trashed.owner) == (wolf.id, "a grey wolf", "alice")  # its id too
        assert history.restore(trashed.id).trashed is None and "a grey wolf" in live(history)
        fox = history.search(Query(text="fox")).entries[0]
        assert history.thumbnail(fox).is_file()
    finally:
        history.close()
    kept = root / ".history" / "history.sqlite3.corrupt"  # for a human to look at (as SQLite left it)
    assert (b"no SQLite file" if damage == "not a database" else b"a red fox") in kept.read_bytes()
    assert "is damaged" in caplog.text and "history.sqlite3.corrupt" in caplog.text


def test_an_earlier_damaged_copy_is_never_overwritten(filled):
    root, _ = filled
    folder = root / ".history"
    for n in range(2):
        (folder / "history.sqlite3").write_bytes(f"damaged {n}".encode() * 500)
        history = History(root)
        try:
            assert history.search().total >= 0
            assert history.wait_for_rebuild(WAIT) and history.search().total == 3
        finally:
            history.close()
    assert (folder / "history.sqlite3.corrupt").read_bytes().startswith(b"damaged 0")
    assert (folder / "history.sqlite3.corrupt-2").read_bytes().startswith(b"damaged 1")


def test_calls_at_the_same_moment_replace_the_damaged_index_once(filled):
    root, _ = filled
    (root / ".history" / "history.sqlite3").write_bytes(b"x" * 8192)
    history = History(root)
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(5):
                history.search(Query(text="fox"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    try:
        assert errors == [] and history.wait_for_rebuild(WAIT) and len(live(history)) == 3
    finally:
        history.close()
    assert sorted(p.name for p in (root / ".history").glob("*.corrupt*")) == ["history.sqlite3.corrupt"]


def test_old_thumbnails_are_dropped_with_the_damaged_index(filled):
    """Thumbnails are named by id, and a rebuilt index gives new ids: an old one would show another picture."""
    root, _ = filled
    thumbs = root / ".history" / "thumbnails"
    assert any(thumbs.rglob("*.webp"))
    (root / ".history" / "history.sqlite3").write_bytes(b"x" * 8192)
    history = History(root)
    try:
        history.search()
        assert history.wait_for_rebuild(WAIT)
        assert not any(p for p in (root / ".history").rglob("*.webp"))
    finally:
        history.close()


def test_a_save_into_a_damaged_index_is_indexed_in_the_new_one(filled):
    root, _ = filled
    (root / ".history" / "history.sqlite3").write_bytes(b"x" * 8192)
    history = History(root)
    try:
        save(OutputStore(root, index=history), "a new moth", "bob", seed=9)
        assert history.wait_for_rebuild(WAIT)
        assert live(history, "bob") == ["a blue whale", "a new moth"]
    finally:
        history.close()


def test_an_index_folder_that_cannot_be_made_says_what_to_check(tmp_path):
    root = tmp_path / "outputs"
    root.mkdir()
    (root / ".history").write_text("a file where the index folder should be")  # works even as root
    history = History(root)
    for call in (lambda: history.search(), lambda: history.get(1), lambda: history.facets(),
                 lambda: history.repair()):
        with pytest.raises(HistoryUnavailable, match="writable by the user running the WebUI") as raised:
            call()
        assert str(root) in str(raised.value)


def test_a_full_disk_is_unavailable_not_a_crash_and_leaves_no_open_transaction(filled):
    root, _ = filled
    history = History(root)
    picture = next((root / "alice" / "txt2img-images").rglob("*.png"))
    try:
        history._db = FullDisk(history.db)
        with pytest.raises(HistoryUnavailable, match="disk is not full"):
            history.record(picture, NEW_SAVE, owner="alice")
        assert not history.db.in_transaction  # never left inside BEGIN: every later call would fail
        history._db = history.db.real  # space freed: the history works again, with no restart
        history.record(picture, NEW_SAVE, owner="alice")
        assert "a new save" in live(history, "alice")
    finally:
        history.close()


class FullDisk:
    """A connection whose COMMIT fails as SQLite's does on a full disk."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="as root, file permissions do not stop writes")
def test_a_read_only_outputs_folder_says_what_to_check(filled):
    root, _ = filled
    folder = root / ".history"
    modes = {path: path.stat().st_mode for path in (root, folder, *folder.iterdir())}
    try:
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        history = History(root)
        try:
            with pytest.raises(HistoryUnavailable, match="writable"):
                entry = history.search().entries[0]  # may still read; then writing must say so
                history.trash(entry.id)
        finally:
            history.close()
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
