"""The SQLite index behind the history: its schema and connection, one picture's row, and the search SQL.

What a row holds is read from the picture's infotext (prompt, checkpoint, seed, size, mode, LoRAs); a search
is built here as SQL conditions: full-text (FTS5) for words of 3+ characters, LIKE for shorter ones. These
functions take the connection and run under the caller's lock: `History` (history.py) owns the connection,
the lock and the picture files; nothing here touches a file but the database.

Standard library only (with the core infotext and prompt parsers).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from modules.core.infotext import parse_infotext
from modules.core.prompts import extract_loras

log = logging.getLogger(__name__)

__all__ = ["Entry", "Query", "Transaction", "insert_row", "lora_names", "mode_of", "open_index", "read_entries",
           "read_facets", "search_conditions"]

# Why the trigram tokenizer: unicode61 treats a run of Chinese characters as one token (there are no spaces),
# so "狐狸" would never match "一只蓝色的狐狸"; trigram indexes every 3-character window of any script, which
# gives substring search for Chinese, English and mixed prompts with no tokenizer code of ours. Its limit is
# terms of 1-2 characters (common in Chinese: 狐, 狐狸), which `_text_filter` answers with LIKE on the prompt.
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    owner TEXT,
    created REAL NOT NULL,
    mode TEXT NOT NULL,
    checkpoint TEXT,
    model_hash TEXT,
    seed INTEGER,
    width INTEGER,
    height INTEGER,
    prompt TEXT NOT NULL DEFAULT '',
    negative_prompt TEXT NOT NULL DEFAULT '',
    infotext TEXT NOT NULL DEFAULT '',  -- the parameters are parsed from it when read: rows stay small to scan
    trashed REAL,
    -- What the user typed when an extension changed the prompt before drawing (prompt-translate's
    -- "Original prompt"): searched beside the prompt drawn, so the words the user wrote find the picture.
    original_prompt TEXT NOT NULL DEFAULT ''
);
-- Unique among live pictures only: a trashed picture's number may be taken by a new save meanwhile.
CREATE UNIQUE INDEX IF NOT EXISTS images_live_path ON images(path) WHERE trashed IS NULL;
-- "trashed IS NULL ORDER BY created DESC" (and its count) straight from an index, for everybody or one owner.
CREATE INDEX IF NOT EXISTS images_by_time ON images(trashed, created);
CREATE INDEX IF NOT EXISTS images_by_owner ON images(owner, trashed, created);
CREATE INDEX IF NOT EXISTS images_by_checkpoint ON images(checkpoint);
CREATE TABLE IF NOT EXISTS image_loras (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    name TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (name, image_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS loras_by_image ON image_loras(image_id);
CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5(
    prompt, original_prompt, content='images', content_rowid='id', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS images_fts_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, original_prompt) VALUES (new.id, new.prompt, new.original_prompt);
END;
CREATE TRIGGER IF NOT EXISTS images_fts_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, original_prompt)
        VALUES ('delete', old.id, old.prompt, old.original_prompt);
END;
CREATE TRIGGER IF NOT EXISTS images_fts_update AFTER UPDATE OF prompt, original_prompt ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, original_prompt)
        VALUES ('delete', old.id, old.prompt, old.original_prompt);
    INSERT INTO images_fts(rowid, prompt, original_prompt) VALUES (new.id, new.prompt, new.original_prompt);
END;
-- Version 3: each picture's vector for "find similar" (history_similar.py), one per kind of embedding (the
-- perceptual descriptor, or a named CLIP vision encoder): kinds are never compared. A v2 index gains the empty
-- table in place; the vectors of older pictures are filled by a background pass. An empty `vector` marks a
-- picture that could not be read (not tried again until it is saved again).
CREATE TABLE IF NOT EXISTS image_vectors (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    vector BLOB NOT NULL,  -- float32, little-endian, unit length
    PRIMARY KEY (kind, image_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vectors_by_image ON image_vectors(image_id);
"""
# Version 1 indexed the prompt drawn only. Its full-text table and triggers are remade with the new column, and
# the column is filled from each row's infotext (`_migrate`).
_DROP_V1_SEARCH = """
DROP TRIGGER IF EXISTS images_fts_insert;
DROP TRIGGER IF EXISTS images_fts_delete;
DROP TRIGGER IF EXISTS images_fts_update;
DROP TABLE IF EXISTS images_fts;
"""
ORIGINAL_PROMPT = "Original prompt"  # the infotext field prompt-translate writes (modules/extension_api hooks)
COLUMNS = ("id, path, owner, created, mode, checkpoint, model_hash, seed, width, height, prompt, negative_prompt, "
           "infotext, trashed")
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Entry:
    id: int
    path: str  # relative to the outputs root, '/'-separated
    owner: str | None
    created: float
    mode: str
    checkpoint: str | None
    model_hash: str | None
    seed: int | None
    width: int | None
    height: int | None
    prompt: str
    negative_prompt: str
    params: dict[str, str]
    infotext: str
    trashed: float | None = None
    loras: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class Query:
    """A search: every given filter must hold. `text` terms are ANDed substrings of the prompt (as drawn or as
    the user typed it)."""

    text: str = ""
    checkpoint: str = ""  # name (A1111's "Model") or short hash
    lora: str = ""
    mode: str = ""
    width: int | None = None
    height: int | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    trashed: bool = False  # search the trash instead of the live pictures


# ------------------------------------------------------------------------------------------ connection
def open_index(path: Path) -> sqlite3.Connection:
    """The index database at `path` (its folder must exist), its schema created or checked."""
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    try:  # a damaged file fails here ("file is not a database"): never leave its handle open
        db.execute("PRAGMA journal_mode=WAL")  # readers (another process, a backup) never block a save
        db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; repair covers a lost last row
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA cache_size=-65536")  # 64 MB: the indexes of ~100,000 pictures stay in memory
        db.execute("PRAGMA mmap_size=268435456")
        _migrate(db)
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY)")  # see `search_conditions`
    except sqlite3.Error as exc:
        db.close()
        if isinstance(exc, sqlite3.OperationalError) and "fts5" in str(exc):
            raise RuntimeError("this Python's SQLite has no FTS5 full-text search, which the history "
                               "needs: use a Python built with a recent SQLite (3.34 or later)") from exc
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an index of an older version up to SCHEMA_VERSION in place (a rebuild from the pictures would take
    minutes for a large gallery); a new, empty database has nothing to do."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'images'").fetchone()
    if exists is None or version >= 2:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in filter(None, (part.strip() for part in _DROP_V1_SEARCH.split(";"))):
            db.execute(statement)
        db.execute("ALTER TABLE images ADD COLUMN original_prompt TEXT NOT NULL DEFAULT ''")
        rows = db.execute("SELECT id, infotext FROM images WHERE infotext LIKE ?", (f"%{ORIGINAL_PROMPT}:%",))
        db.executemany("UPDATE images SET original_prompt = ? WHERE id = ?",
                       [(original, image_id) for image_id, infotext in rows.fetchall()
                        if (original := _describe(infotext).original_prompt)])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.executescript(SCHEMA)
    db.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
    log.info("history: the index was brought to version %d (searches the prompt as typed too)", SCHEMA_VERSION)


class Transaction:
    """`with Transaction(db, lock) as db:` — BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if kind is None:
                try:
                    self.db.execute("COMMIT")
                except BaseException:  # a full disk fails the COMMIT: never leave the connection inside BEGIN
                    self._rollback()
                    raise
            else:
                self._rollback()
        finally:
            self.lock.release()

    def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (a full disk, I/O); a second ROLLBACK would then raise
        # "no transaction is active" and hide the error that says what went wrong.
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.warning("history: ROLLBACK failed after an earlier error: %s", exc)


# ------------------------------------------------------------------------------------------ writing
def insert_row(db: sqlite3.Connection, rel: str, infotext: str | None, *, owner: str | None = None,
               size: tuple[int, int] | None = None, created: float | None = None, replace: bool = True,
               trashed: float | None = None, image_id: int | None = None) -> int:
    """The row of one picture at `rel`, inside the caller's transaction; returns its id. One live row per path:
    an existing one is replaced (`replace`) or kept. (bench/bench_history.py fills rows with it.)
    `trashed` adds a row of the trash instead (a rebuild finding a trashed picture): live rows are untouched;
    `image_id` asks for that id (it must be free), which a trashed picture's file name carries."""
    described = _describe(infotext)
    params = described.params
    if size is None:  # a file that could not be opened for its size: trust the infotext
        width_text, _, height_text = params.get("Size", "").partition("x")
        size = (_int(width_text), _int(height_text))  # type: ignore[assignment]
    width, height = size
    values = (image_id, rel, owner, created if created is not None else time.time(), mode_of(rel, params),
              params.get("Model"), params.get("Model hash"), _int(params.get("Seed")), width, height,
              described.prompt, described.negative_prompt, described.infotext, trashed, described.original_prompt)
    row = None if trashed is not None else db.execute(
        "SELECT id FROM images WHERE path = ? AND trashed IS NULL", (rel,)).fetchone()
    if row is not None and not replace:
        return int(row[0])
    if row is not None:
        db.execute("DELETE FROM images WHERE id = ?", (row[0],))
    cursor = db.execute(
        "INSERT INTO images (id, path, owner, created, mode, checkpoint, model_hash, seed, width, height, prompt, "
        "negative_prompt, infotext, trashed, original_prompt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values)
    image_id = int(cursor.lastrowid)
    db.executemany("INSERT OR IGNORE INTO image_loras (image_id, name) VALUES (?, ?)",
                   [(image_id, name) for name in lora_names(described.prompt, params)])
    return image_id


@dataclass
class _Described:
    """What the index stores about one picture, read from its infotext."""

    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)
    infotext: str = ""
    original_prompt: str = ""  # what the user typed, when it is not the prompt drawn


def _describe(infotext: str | None) -> _Described:
    if not infotext:
        return _Described()
    info = parse_infotext(infotext)
    params = {k: v for k, v in info.params.items() if not (k.endswith(("-1", "-2")) and k[:-2] in info.params)}
    original = params.get(ORIGINAL_PROMPT, "")
    return _Described(info.prompt, info.negative_prompt, params, infotext,
                      original if original != info.prompt else "")


MODES = ("txt2img", "img2img", "inpaint", "extras", "other")  # what `mode_of` says


def mode_of(rel: str, params: dict[str, str]) -> str:
    """txt2img / img2img / inpaint, from the kind folder when it says, else from the parameters."""
    parts = PurePosixPath(rel).parts[:-1]
    if "extras-images" in parts:
        return "extras"
    if "Mask blur" in params:
        return "inpaint"
    if "img2img-images" in parts or "Denoising strength" in params and "Hires upscale" not in params:
        return "img2img"
    if "txt2img-images" in parts or "Steps" in params:
        return "txt2img"
    return "other"


def lora_names(prompt: str, params: dict[str, str]) -> tuple[str, ...]:
    """LoRAs from the prompt's <lora:...> tags and A1111's "Lora hashes" parameter."""
    names = [tag.name for tag in extract_loras(prompt)[1]]
    for item in (params.get("Lora hashes") or "").split(","):
        name = item.rpartition(":")[0].strip()
        if name:
            names.append(name)
    return tuple(dict.fromkeys(names))


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


# ------------------------------------------------------------------------------------------ reading
def read_entries(db: sqlite3.Connection, sql: str, args: list[Any] | tuple[Any, ...]) -> list[Entry]:
    """The entries of a `SELECT {COLUMNS} ...`, with their LoRAs. Call with the lock held."""
    rows = db.execute(sql, args).fetchall()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    loras: dict[int, list[str]] = {}
    marks = ",".join("?" * len(ids))
    for image_id, name in db.execute(f"SELECT image_id, name FROM image_loras WHERE image_id IN ({marks})", ids):
        loras.setdefault(image_id, []).append(name)
    return [Entry(*row[:12], params=_describe(row[12]).params, infotext=row[12], trashed=row[13],
                  loras=tuple(sorted(loras.get(row[0], ())))) for row in rows]


def search_conditions(db: sqlite3.Connection, query: Query, owner: str | None) -> tuple[list[str], list[Any]]:
    """Conditions on `images i`, and their arguments. Call with the lock held, and use the conditions before
    the lock is let go: a text search fills the connection's `hits` table."""
    where = ["i.trashed IS NOT NULL" if query.trashed else "i.trashed IS NULL"]
    args: list[Any] = []
    if owner is not None:
        where.append("i.owner = ?")
        args.append(owner)
    match, likes = _text_filter(query.text)
    if match is not None:
        # Matched once into a temporary table: the count and the page both use it, the FTS runs once.
        db.execute("DELETE FROM hits")
        db.execute("INSERT INTO hits SELECT rowid FROM images_fts WHERE images_fts MATCH ?", (match,))
        where.append("i.id IN hits")
    for pattern in likes:
        where.append("(i.prompt LIKE ? ESCAPE '\\' OR i.original_prompt LIKE ? ESCAPE '\\')")
        args += [pattern, pattern]
    if query.checkpoint:
        where.append("(i.checkpoint = ? COLLATE NOCASE OR i.model_hash = ? COLLATE NOCASE)")
        args += [query.checkpoint, query.checkpoint]
    if query.lora:
        where.append("i.id IN (SELECT image_id FROM image_loras WHERE name = ?)")
        args.append(query.lora)
    for column, value in (("mode", query.mode or None), ("width", query.width), ("height", query.height)):
        if value is not None:
            where.append(f"i.{column} = ?")
            args.append(value)
    if query.since is not None:
        where.append("i.created >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append("i.created < ?")
        args.append(query.until)
    return where, args


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_filter(text: str) -> tuple[str | None, list[str]]:
    """The search words as (an FTS5 MATCH expression for words of 3+ characters, LIKE patterns for shorter ones).

    Every word is quoted, so the user's text is never FTS syntax (AND, NOT, *, quotes are just characters)."""
    long_terms, short_terms = [], []
    for word in text.split():
        (long_terms if len(word) >= 3 else short_terms).append(word)
    match = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms) or None
    return match, [_like(term) for term in short_terms]


def read_facets(db: sqlite3.Connection, owner: str | None = None) -> dict[str, list[str]]:
    """The checkpoints, LoRAs and sizes that occur (in `owner`'s pictures, or everybody's for None)."""
    scope, args = ("WHERE owner = ?", [owner]) if owner is not None else ("", [])
    checkpoints = [r[0] for r in db.execute(
        f"SELECT DISTINCT checkpoint FROM images {scope} {'AND' if scope else 'WHERE'} checkpoint IS NOT NULL "
        "ORDER BY checkpoint COLLATE NOCASE", args)]
    loras = [r[0] for r in db.execute(
        "SELECT DISTINCT l.name FROM image_loras l JOIN images i ON i.id = l.image_id "
        f"{scope.replace('owner', 'i.owner')} ORDER BY l.name", args)]
    sizes = [f"{w}x{h}" for w, h in db.execute(
        f"SELECT DISTINCT width, height FROM images {scope} {'AND' if scope else 'WHERE'} width IS NOT NULL "
        "ORDER BY width, height", args)]
    return {"checkpoints": checkpoints, "loras": loras, "sizes": sizes}
