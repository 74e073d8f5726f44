"""The history of saved pictures: an SQLite index of every image under outputs/, searchable by prompt.

The pictures stay the source of truth; the index can always be rebuilt from them (`repair`), so a crash
between a file and its row never loses anything. Paths are stored relative to the outputs root, with '/'.
Deleting moves a file into `<root>/.trash/` and can be undone; only `empty_trash(confirm=True)` deletes.

This module is the files' side (paths, trash, restore, repair, thumbnails) and the one lock; the database
side (schema, rows, search SQL) is history_index.py. Standard library and PIL only: no gradio, no HTTP (the
UI and the API wrap this).

A damaged index ("file is not a database", "database disk image is malformed") is moved aside
(`history.sqlite3.corrupt`) and rebuilt from the pictures; a folder that cannot be written or a full disk
raises HistoryUnavailable, which says what to check (the API answers 503).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError

from modules.core.aside import move_aside
from modules.core.infotext import read_image_infotext
from modules.service.history_index import (
    COLUMNS,
    Entry,
    Query,
    Transaction,
    insert_row,
    open_index,
    read_entries,
    read_facets,
    search_conditions,
)

log = logging.getLogger(__name__)

__all__ = ["Entry", "History", "HistoryPage", "HistoryUnavailable", "Query", "RepairReport", "parse_day",
           "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
DATA_DIR = ".history"  # beside the pictures, so the index travels with them; dot folders are never scanned
TRASH_DIR = ".trash"
THUMB_SIDE = 256
STALE_THUMBS = ".thumbnails-stale-"  # thumbnails of a replaced index, until deleted
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class RepairReport:
    added: int = 0
    removed: int = 0
    fixed: int = 0  # rows whose trash state was put right after an interrupted move
    trash_found: int = 0  # trashed pictures without a row (the index was rebuilt), indexed again as trashed

    def __str__(self) -> str:
        return (f"{self.added} picture(s) indexed, {self.removed} missing removed, {self.fixed} trash state(s) fixed"
                + (f", {self.trash_found} trashed picture(s) found" if self.trash_found else ""))


def parse_day(text: str, end: bool = False) -> float | None:
    """'2024-05-06' (or an ISO date-time) as local epoch seconds; `end` gives the start of the next day."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date {text!r}: write it as YYYY-MM-DD, e.g. 2024-05-06") from None
    if end and len(text) <= 10:
        moment += timedelta(days=1)
    return moment.timestamp()


def owner_from_path(rel: str) -> str | None:
    """The user a file belongs to by OutputStore's layout: `<user>/<kind>/...`; None for the shared layout."""
    parts = PurePosixPath(rel).parts
    if len(parts) < 3 or _is_kind(parts[0]):
        return None
    return parts[0] if _is_kind(parts[1]) else None


def _is_kind(folder: str) -> bool:
    return folder.endswith(("-images", "-grids")) or folder == "imported"


def walk_images(folder: Path) -> Iterator[Path]:
    """Every picture under folder, skipping dot files and folders (temp files, trash, the index)."""
    for directory, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                yield Path(directory) / name


class HistoryUnavailable(OSError):
    """The index or the pictures' folder cannot be read or written (read-only folder, full disk, a lock held by
    another program). The message says what to check; the API answers 503. The pictures are untouched."""


_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # the extended code (Python 3.11+); its low byte is the kind
    return None if code is None else code & 0xFF


def _is_corrupt(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc)
    return _code(exc) in _CORRUPT or "file is not a database" in text or "malformed" in text


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _guarded(*, rebuild: bool = True) -> Callable[[_Method], _Method]:
    """History methods never answer a storage problem with a bare sqlite3/OS error:

    - a damaged index is moved aside and replaced by a new one, and the call is tried once more on it; the new
      index is filled from the pictures by a background repair (`rebuild`), or by the call itself (repair);
    - a storage error (sqlite3.OperationalError, OSError) becomes HistoryUnavailable, saying what to check."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def call(self: History, *args: Any, **kwargs: Any) -> Any:
            generation = self._generation
            try:
                try:
                    return method(self, *args, **kwargs)
                except sqlite3.Error as exc:
                    # Also retried: any error of a call that overlapped a replacement (its connection was closed).
                    if not _is_corrupt(exc) and generation == self._generation:
                        raise
                    self._recover(generation, exc, rebuild=rebuild)
                return method(self, *args, **kwargs)
            except HistoryUnavailable:
                raise
            except OSError as exc:
                if exc.errno is None:  # raised on purpose with a message for the user (PermissionError: confirm)
                    raise
                raise self._unavailable(exc) from exc
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from exc
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):  # damaged again right away: the disk itself may be failing
                    raise self._unavailable(exc) from exc
                raise

        return call  # type: ignore[return-value]

    return wrap


class History:
    """The index of pictures under `root`. Thread-safe; one instance per process (built in services)."""

    def __init__(self, root: Path, data_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.data_dir = Path(data_dir) if data_dir is not None else self.root / DATA_DIR
        self.trash_dir = self.root / TRASH_DIR
        self.thumbs_dir = self.data_dir / "thumbnails"
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._generation = 0  # how many times a damaged index was replaced
        self._rebuild: threading.Thread | None = None
        # Told the id of every picture indexed (a save, an import, a repair), after its row is committed: the
        # similarity search embeds it. A listener must be quick and never raise (it runs in the saving thread).
        self.listeners: list[Callable[[int], None]] = []

    # ------------------------------------------------------------------------------------------ database
    @property
    def index_path(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def db(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._db = open_index(self.index_path)
            return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _recover(self, generation: int, error: sqlite3.Error, *, rebuild: bool) -> None:
        """Replace a damaged index: keep it as `history.sqlite3.corrupt[-n]` (with its WAL journal) and start a
        new one, rebuilt from the pictures on disk: they are the source of truth, the index only a cache."""
        with self._lock:
            if generation != self._generation:
                return  # another call replaced it meanwhile
            self._generation += 1
            if self._db is not None:
                try:
                    self._db.close()
                except sqlite3.Error as exc:
                    log.warning("history: closing the damaged index: %s", exc)
                self._db = None
            path = self.index_path
            aside = move_aside(path, companions=("-wal",))
            Path(f"{path}-shm").unlink(missing_ok=True)  # shared-memory index of the WAL: rebuilt by SQLite
            # Thumbnails are named by id, and the new index gives new ids: an old one would show another picture.
            # Renamed now (instant), deleted by the rebuild (a big gallery has many).
            if self.thumbs_dir.exists():
                os.replace(self.thumbs_dir, self.data_dir / f"{STALE_THUMBS}{time.time_ns()}")
            log.error("history: the index %s is damaged (%s). Kept it as %s; a new index is being rebuilt from the "
                      "pictures under %s (search shows them as they are found).", path, error, aside.name, self.root)
        if rebuild:
            self._start_rebuild()
        else:
            self._drop_stale_thumbnails()

    def _drop_stale_thumbnails(self) -> None:
        for stale in self.data_dir.glob(f"{STALE_THUMBS}*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _start_rebuild(self) -> None:
        def rebuild() -> None:
            self._drop_stale_thumbnails()
            try:
                log.warning("history: rebuilt the index from the pictures on disk: %s", self.repair())
            except Exception:  # the repair at the next start tries again
                log.exception("history: rebuilding the index failed")

        with self._lock:
            if self._rebuild is not None and self._rebuild.is_alive():
                return  # it reads the new index as it goes: nothing is missed
            self._rebuild = threading.Thread(target=rebuild, name="history-rebuild", daemon=True)
            self._rebuild.start()

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Wait until the rebuild of a replaced index is done (tools and tests); True when none is running."""
        thread = self._rebuild
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _unavailable(self, exc: BaseException) -> HistoryUnavailable:
        log.warning("history: unavailable: %s: %s", type(exc).__name__, exc)
        if isinstance(exc, sqlite3.Error) and _code(exc) in _BUSY:
            return HistoryUnavailable(f"The history index {self.index_path} is busy ({exc}): another program (a "
                                      "backup, a second WebUI on the same outputs folder) holds it. Try again in "
                                      "a moment.")
        return HistoryUnavailable(
            f"The history is unavailable: {exc}. Check that the outputs folder {self.root} and the index folder "
            f"{self.data_dir} are writable by the user running the WebUI and that the disk is not full. The pictures "
            "are not touched, and the history works again as soon as that is fixed, with no restart.")

    def _tx(self) -> Transaction:
        return Transaction(self.db, self._lock)

    def transaction(self) -> Transaction:
        """`with history.transaction() as db:` for the index's companions (history_similar.py): the same
        connection and lock as the history's own writes."""
        return self._tx()

    @property
    def generation(self) -> int:
        """How many times a damaged index was replaced: ids from before a replacement mean other pictures."""
        return self._generation

    def rel(self, path: Path) -> str:
        """path as stored: relative to the root, '/'-separated; ValueError if it is not under the root."""
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        if relative == "." or relative.startswith(".." + os.sep) or relative == ".." or os.path.isabs(relative):
            raise ValueError(f"{path} is not inside the outputs folder {self.root}")
        return PurePosixPath(*Path(relative).parts).as_posix()

    def file_of(self, entry: Entry) -> Path:
        """Where the entry's picture is now (its trash place when trashed), refusing anything outside the root."""
        return self._inside(self._trash_path(entry) if entry.trashed is not None else self.root / entry.path)

    def _inside(self, path: Path) -> Path:
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise LookupError(f"{path} is outside the outputs folder")
        return Path(real)

    def _trash_path(self, entry: Entry) -> Path:
        return self._trash_path_of(entry.id, entry.path)

    def _trash_path_of(self, image_id: int, path: str) -> Path:
        """Where a trashed picture lies: fixed by its id and path, so `repair` can find a half-done move."""
        rel = PurePosixPath(path)
        return self.trash_dir.joinpath(*rel.parent.parts, f"{image_id}-{rel.name}")

    # ------------------------------------------------------------------------------------------ writing
    @_guarded()
    def record(self, path: Path, infotext: str | None, *, owner: str | None = None, size: tuple[int, int] | None = None,
               created: float | None = None, replace: bool = True) -> int:
        """Index one picture (a new save, or a file found on disk); returns its id. One live row per path: an
        existing one is replaced (`replace`) or kept."""
        rel = self.rel(path)
        with self._tx() as db:
            image_id = insert_row(db, rel, infotext, owner=owner, size=size, created=created, replace=replace)
        for listener in self.listeners:
            listener(image_id)
        return image_id

    def record_file(self, path: Path, owner: str | None = None, replace: bool = True) -> int | None:
        """Index a picture file, reading its infotext and size; None (logged) if it is not a readable picture."""
        try:
            with Image.open(path) as image:
                infotext, size = read_image_infotext(image), image.size
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            log.warning("history: skipping %s: %s", path, exc)
            return None
        rel = self.rel(path)
        return self.record(path, infotext, owner=owner if owner is not None else owner_from_path(rel), size=size,
                           created=os.stat(path).st_mtime, replace=replace)

    def saved(self, path: Path, *, infotext: str, user: str | None, kind: str, size: tuple[int, int],
              created: float | None = None) -> None:
        """OutputStore's hook: the picture at `path` was just saved for `user` (None without accounts)."""
        self.record(path, infotext, owner=user, size=size, created=created)

    # ------------------------------------------------------------------------------------------ reading
    def _entries(self, sql: str, args: list[Any] | tuple[Any, ...]) -> list[Entry]:
        with self._lock:
            return read_entries(self.db, sql, args)

    @_guarded()
    def get(self, image_id: int, owner: str | None = None) -> Entry:
        """The entry, if `owner` may see it (None sees everything); LookupError otherwise, as if it didn't exist."""
        args: list[Any] = [image_id]
        sql = f"SELECT {COLUMNS} FROM images i WHERE id = ?"
        if owner is not None:
            sql += " AND owner = ?"
            args.append(owner)
        found = self._entries(sql, args)
        if not found:
            raise LookupError(f"No picture {image_id} in your history.")
        return found[0]

    @_guarded()
    def search(self, query: Query = Query(), owner: str | None = None, page: int = 1,
               per_page: int = 50) -> HistoryPage:
        """Newest first. `owner` limits to one user's pictures (None: everybody's, for admins and no-login use)."""
        page, per_page = max(1, int(page)), min(max(1, int(per_page)), MAX_PER_PAGE)
        with self._lock:
            where, args = search_conditions(self.db, query, owner)
            condition = " AND ".join(where)
            total = self.db.execute(f"SELECT count(*) FROM images i WHERE {condition}", args).fetchone()[0]
            entries = self._entries(
                f"SELECT {COLUMNS} FROM images i WHERE {condition} ORDER BY i.created DESC, i.id DESC LIMIT ? OFFSET ?",
                [*args, per_page, (page - 1) * per_page])
        return HistoryPage(entries, total, page, per_page)

    @_guarded()
    def facets(self, owner: str | None = None) -> dict[str, list[str]]:
        """The checkpoints, LoRAs and sizes that occur, for the search form's choices."""
        with self._lock:
            return read_facets(self.db, owner)

    # ------------------------------------------------------------------------------------------ trash
    @_guarded()
    def trash(self, image_id: int, owner: str | None = None) -> Entry:
        """Move the picture to the trash (undo with `restore`)."""
        with self._lock:
            entry = self.get(image_id, owner)
            if entry.trashed is not None:
                return entry
            source, target = self.file_of(entry), self._trash_path(entry)
            if not source.is_file():
                raise LookupError(f"The file of picture {image_id} is missing; the next start drops it from the "
                                  "history.")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Row first, file inside the transaction: a crash between the two leaves a state `repair` recognises.
            with self._tx() as db:
                db.execute("UPDATE images SET trashed = ? WHERE id = ?", (time.time(), image_id))
                os.replace(source, target)
            return self.get(image_id, owner)

    @_guarded()
    def restore(self, image_id: int, owner: str | None = None) -> Entry:
        """Bring a trashed picture back to its place; a picture saved there meanwhile keeps its name."""
        with self._lock:
            entry = self.get(image_id, owner)
            if entry.trashed is None:
                return entry
            source = self.file_of(entry)
            if not source.is_file():
                raise LookupError(f"The trashed file of picture {image_id} is missing: it cannot be restored.")
            target = self._free_name(self.root / entry.path)
            with self._tx() as db:
                db.execute("UPDATE images SET trashed = NULL, path = ? WHERE id = ?", (self.rel(target), image_id))
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(source, target)  # never replaces a file that appeared at that name
                source.unlink()
            return self.get(image_id, owner)

    def _free_name(self, wanted: Path) -> Path:
        taken = self.db.execute("SELECT 1 FROM images WHERE path = ? AND trashed IS NULL", (self.rel(wanted),))
        if not wanted.exists() and taken.fetchone() is None:
            return wanted
        for n in range(1, 10_000):
            candidate = wanted.with_name(f"{wanted.stem}-restored-{n}{wanted.suffix}")
            if not candidate.exists():
                return candidate
        raise RuntimeError(f"no free name to restore {wanted}")

    @_guarded()
    def empty_trash(self, owner: str | None = None, *, confirm: bool = False) -> int:
        """Delete the trashed pictures for good (one user's, or everybody's for None). Needs confirm=True."""
        if not confirm:
            raise PermissionError("Emptying the trash deletes its pictures for good: confirm it first.")
        deleted = 0
        while entries := self.search(Query(trashed=True), owner, per_page=MAX_PER_PAGE).entries:
            for entry in entries:
                with self._lock:
                    try:
                        self.file_of(entry).unlink(missing_ok=True)
                    except LookupError:
                        log.warning("history: not deleting %s: outside the outputs folder", entry.path)
                    self._thumb_path(entry.id).unlink(missing_ok=True)
                    with self._tx() as db:
                        db.execute("DELETE FROM images WHERE id = ?", (entry.id,))
                    deleted += 1
        return deleted

    # ------------------------------------------------------------------------------------------ repair
    @_guarded(rebuild=False)  # on a damaged index, the call tried again on the new one is the rebuild
    def repair(self) -> RepairReport:
        """Make the index match the files: index pictures without rows, drop rows whose file is gone, and finish
        trash moves a crash interrupted. Safe to run at every start, while the app saves and deletes."""
        report = RepairReport()
        with self._lock:
            rows = self.db.execute("SELECT id, path, trashed FROM images ORDER BY trashed IS NOT NULL, id").fetchall()
        for image_id, path, trashed in rows:
            if (self.root / path if trashed is None else self._trash_path_of(image_id, path)).exists():
                continue  # the common case, checked without the lock
            outcome = self._repair_row(image_id)
            if outcome:
                setattr(report, outcome, getattr(report, outcome) + 1)
        # Before the live pictures, so trashed ones keep the ids their file names carry.
        for file in walk_images(self.trash_dir):
            if self._index_trashed(file):
                report.trash_found += 1
        for file in walk_images(self.root):
            rel = self.rel(file)
            if self._live_id(rel) is None and self.record_file(file, replace=False) is not None:
                report.added += 1
        return report

    def _live_id(self, rel: str) -> int | None:
        with self._lock:
            row = self.db.execute("SELECT id FROM images WHERE path = ? AND trashed IS NULL", (rel,)).fetchone()
        return row[0] if row else None

    def _index_trashed(self, file: Path) -> bool:
        """A picture in the trash without its row (the index was rebuilt): index it as trashed, so it can still
        be restored or emptied. Its name `<id>-<name>` under the folders of its place gives its path and id."""
        place = file.relative_to(self.trash_dir)
        number, sep, name = place.name.partition("-")
        if not (sep and name and number.isdigit()):
            return False
        old_id, path = int(number), PurePosixPath(*place.parent.parts, name).as_posix()
        known = "SELECT 1 FROM images WHERE id = ? AND path = ? AND trashed IS NOT NULL"
        with self._lock:
            if self.db.execute(known, (old_id, path)).fetchone() is not None:
                return False  # the common case
        try:
            with Image.open(file) as image:
                infotext, size = read_image_infotext(image), image.size
            stat = os.stat(file)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            log.warning("history: skipping %s in the trash: %s", file, exc)
            return False
        try:
            with self._tx() as db:
                if db.execute(known, (old_id, path)).fetchone() is not None or not file.is_file():
                    return False  # another repair took it meanwhile
                free = db.execute("SELECT 1 FROM images WHERE id = ?", (old_id,)).fetchone() is None
                image_id = insert_row(db, path, infotext, owner=owner_from_path(path), size=size,
                                      created=stat.st_mtime, trashed=stat.st_ctime,
                                      image_id=old_id if free else None)
                if image_id != old_id:  # its id went to a new picture: the file follows its new id
                    os.link(file, self._trash_path_of(image_id, path))
                    file.unlink()
        except FileExistsError:
            log.warning("history: %s stays in the trash unindexed: the name for its new id is taken", file)
            return False
        return True

    def _repair_row(self, image_id: int) -> str | None:
        """Put one row right, looking again under the lock (a trash or restore may have just finished)."""
        with self._tx() as db:
            row = db.execute("SELECT path, trashed FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                return None
            path, trashed = row
            here, in_trash = self.root / path, self._trash_path_of(image_id, path)
            if (here if trashed is None else in_trash).exists():
                return None
            if trashed is None and in_trash.exists():  # moved to the trash, the row never said so
                db.execute("UPDATE images SET trashed = ? WHERE id = ?", (time.time(), image_id))
                return "fixed"
            taken = db.execute("SELECT 1 FROM images WHERE path = ? AND trashed IS NULL", (path,)).fetchone()
            if trashed is not None and here.exists() and taken is None:  # moved back, the row never said so
                db.execute("UPDATE images SET trashed = NULL WHERE id = ?", (image_id,))
                return "fixed"
            # The file is gone: deleted by hand, or the trash emptied before its row went.
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            return "removed"

    # ------------------------------------------------------------------------------------------ thumbnails
    def _thumb_path(self, image_id: int) -> Path:
        return self.thumbs_dir / f"{image_id // 1000:04d}" / f"{image_id}.webp"

    def thumbnail(self, entry: Entry) -> Path:
        """A small WebP of the picture, made once and kept: the gallery never loads full pictures."""
        source = self.file_of(entry)
        thumb = self._thumb_path(entry.id)
        try:
            if thumb.stat().st_mtime >= source.stat().st_mtime:
                return thumb
        except FileNotFoundError:
            pass
        with Image.open(source) as image:
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # JPEG decodes at a fraction of the size
            small = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            small.thumbnail((THUMB_SIDE, THUMB_SIDE))
        try:
            thumb.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=thumb.parent, prefix=".tmp-", suffix=".webp")
        except OSError as exc:  # a read-only folder or a full disk: say so (503), not a bare error (500)
            raise self._unavailable(exc) from exc
        try:
            with os.fdopen(fd, "wb") as file:
                small.save(file, format="WEBP", quality=80)
            os.replace(temp, thumb)  # two requests may make the same thumbnail; the last one wins, both whole
        except BaseException as exc:
            Path(temp).unlink(missing_ok=True)
            if isinstance(exc, OSError):  # a full disk
                raise self._unavailable(exc) from exc
            raise
        return thumb
