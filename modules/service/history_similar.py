"""Search the history by picture: each saved picture's vector, filled in the background, and the nearest ones.

A picture gets its vector after it is indexed (`History.listeners`: a save, an import, a repair); pictures
indexed before this existed (a v2 index) get theirs by the same background pass, newest first, so an upgrade
never blocks the start. Vectors live in the index (`image_vectors`, history_index.py), one per kind of
embedder: a search compares only vectors of the current kind; after a model change the pass computes the new
kind while the old vectors wait unused (never compared with the new ones).

Searching scores an in-memory matrix of the current kind (engine/vector_index.py), loaded on the first search
and kept up to date as vectors are made; the candidates are then read back from the index in the caller's
scope, so a trashed or deleted picture, or someone else's, is never shown.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from modules.engine.devices import DeviceConfig
from modules.engine.picture_embedders import ImageEmbedder, PerceptualEmbedder, choose_embedder
from modules.engine.vector_index import VectorIndex
from modules.service.history import MAX_PER_PAGE, Entry, History, HistoryUnavailable
from modules.service.history_index import COLUMNS, read_entries

log = logging.getLogger(__name__)

__all__ = ["SimilarPicture", "SimilarPictures", "SimilarResult", "attach"]

BATCH = 32  # pictures embedded between two looks at the index
SETTLE_SECONDS = 2.0  # a search waits this long for pictures saved a moment ago to get their vectors
UNREADABLE = b""  # the vector of a picture that could not be read: not tried again until saved again


@dataclass(frozen=True)
class SimilarPicture:
    entry: Entry
    score: float  # cosine similarity of the two vectors: 1 is the same picture


@dataclass(frozen=True)
class SimilarResult:
    items: list[SimilarPicture]
    kind: str  # which embedder compared them
    pending: int  # pictures in scope still waiting for a vector (left out of this answer)


class SimilarPictures:
    """Vectors of the history's pictures and the search over them. Thread-safe; one per History."""

    def __init__(self, history: History, embedder: ImageEmbedder, *, pause: float = 1.0) -> None:
        self.history = history
        self.embedder = embedder
        self.pause = pause  # after each batch, sleep `pause` times as long as it took: the pass stays gentle
        self._index: VectorIndex | None = None
        self._index_key: tuple[str, int] | None = None  # (kind, history generation) the matrix was loaded for
        self._load_lock = threading.Lock()
        self._state = threading.Condition()
        self._dirty = False  # something may lack a vector
        self._busy = False
        self._stopped = False
        self._swept = ""  # the kind a pass last found complete: a search of that kind need not start one
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ the pass
    def notify(self, image_id: int | None = None) -> None:
        """A picture was indexed (History.listeners): make sure the pass runs."""
        with self._state:
            self._dirty = True
            if self._thread is None or not self._thread.is_alive():
                if self._stopped:
                    return
                self._thread = threading.Thread(target=self._run, name="history-vectors", daemon=True)
                self._thread.start()
            self._state.notify_all()

    def stop(self) -> None:
        with self._state:
            self._stopped = True
            self._state.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every picture has its vector (tools and tests); True when the pass is idle."""
        with self._state:
            return self._state.wait_for(lambda: not (self._dirty or self._busy) or self._stopped, timeout)

    def _run(self) -> None:
        while True:
            with self._state:
                self._busy = False
                self._state.notify_all()
                self._state.wait_for(lambda: self._dirty or self._stopped)
                if self._stopped:
                    return
                self._dirty, self._busy = False, True
            try:
                while not self._stopped:
                    started, kind = time.perf_counter(), self.embedder.kind
                    if self.fill(BATCH) == 0:
                        self._swept = kind
                        break
                    time.sleep((time.perf_counter() - started) * self.pause)
            except HistoryUnavailable as exc:  # a full disk: tried again at the next save
                log.warning("find similar: vectors not saved: %s", exc)
            except Exception:
                log.exception("find similar: the vector pass failed; it runs again at the next save")

    def fill(self, limit: int = BATCH) -> int:
        """Give up to `limit` pictures lacking one a vector of the current kind, newest first; how many."""
        kind, generation = self.embedder.kind, self.history.generation
        with self._read() as db:
            rows = db.execute(
                "SELECT i.id, i.path, i.owner FROM images i WHERE i.trashed IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM image_vectors v WHERE v.kind = ? AND v.image_id = i.id) ORDER BY i.id DESC LIMIT ?",
                (kind, limit)).fetchall()
        made = [(image_id, owner, self._embed_file(self.history.root / path)) for image_id, path, owner in rows]
        if kind != self.embedder.kind:  # the model failed and was replaced meanwhile: these are of the old kind
            return len(rows)
        with self._write() as db:
            for image_id, _, blob in made:
                # The picture may have been deleted meanwhile: a vector of no picture would break the link.
                db.execute("INSERT OR REPLACE INTO image_vectors (image_id, kind, vector) SELECT ?, ?, ? "
                           "WHERE EXISTS (SELECT 1 FROM images WHERE id = ?)", (image_id, kind, blob, image_id))
        index = self._index
        if index is not None and self._index_key == (kind, generation):
            index.add_many([row for row in made if row[2]])
        return len(rows)

    def _embed_file(self, path: Path) -> bytes:
        try:
            with Image.open(path) as image:
                image.load()
                return self._embed(image)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            log.warning("find similar: %s gets no vector: %s", path, exc)
            return UNREADABLE

    def _embed(self, image: Image.Image) -> bytes:
        """The current embedder's vector; a CLIP model that fails (a damaged file, out of memory) is replaced
        by the perceptual descriptor for the rest of the run, said in the log once."""
        embedder = self.embedder
        try:
            return embedder.embed(image)
        except (OSError, ValueError, UnidentifiedImageError):
            raise
        except Exception as exc:
            if isinstance(embedder, PerceptualEmbedder):
                raise
            log.error("find similar: %s failed (%s); using the built-in perceptual descriptor instead until the "
                      "next start", embedder.kind, exc)
            self.embedder = PerceptualEmbedder()
            return self.embedder.embed(image)

    # ------------------------------------------------------------------------------------------ the search
    def similar(self, image: Image.Image, owner: str | None, limit: int = 30) -> SimilarResult:
        """The pictures most like `image`, best first: `owner`'s, or everybody's for None."""
        return self._search(self._embed(image), owner, limit, exclude=frozenset())

    def similar_to(self, image_id: int, owner: str | None, limit: int = 30) -> SimilarResult:
        """The pictures most like picture `image_id` (which `owner` must be allowed to see), itself left out."""
        entry = self.history.get(image_id, owner)
        blob = None
        with self._read() as db:
            row = db.execute("SELECT vector FROM image_vectors WHERE image_id = ? AND kind = ?",
                             (image_id, self.embedder.kind)).fetchone()
            blob = row[0] if row and row[0] else None
        if blob is None:
            try:
                blob = self._embed_file(self.history.file_of(entry))
            except LookupError as exc:
                raise LookupError(f"Picture {image_id} cannot be read: {exc}") from None
            if not blob:
                raise ValueError(f"Picture {image_id} ({entry.name}) cannot be read as a picture.")
        return self._search(blob, owner, limit, exclude=frozenset({image_id}))

    def _search(self, query: bytes, owner: str | None, limit: int, exclude: frozenset[int]) -> SimilarResult:
        limit = min(max(1, int(limit)), MAX_PER_PAGE)
        if self._swept != self.embedder.kind:  # first search since the start (or a new model): fill the rest
            self.notify()
        self.wait_idle(SETTLE_SECONDS)  # a picture saved a moment ago is found too
        kind = self.embedder.kind
        index = self._matrix()
        items: list[SimilarPicture] = []
        wanted = limit + len(exclude) + 8  # a few spare: some may have been trashed since
        while True:
            hits = index.search(query, owner, wanted, exclude=exclude)
            entries = self._live_entries([hit.id for hit in hits], owner)
            items = [SimilarPicture(entries[hit.id], hit.score) for hit in hits if hit.id in entries][:limit]
            if len(items) >= limit or len(hits) < wanted or wanted >= len(index):
                break
            wanted *= 4
        return SimilarResult(items, kind, self._pending(owner))

    def _matrix(self) -> VectorIndex:
        """The in-memory vectors of the current kind, loaded from the index on first use (or after the index
        was replaced, or the kind changed)."""
        key = (self.embedder.kind, self.history.generation)
        with self._load_lock:
            if self._index is None or self._index_key != key:
                index = VectorIndex(self.embedder.dimensions)
                self._index, self._index_key = index, key  # vectors made from now on join it
                with self._read() as db:
                    rows = db.execute("SELECT v.image_id, i.owner, v.vector FROM image_vectors v JOIN images i "
                                      "ON i.id = v.image_id WHERE v.kind = ? AND length(v.vector) > 0",
                                      (key[0],)).fetchall()
                index.add_many(rows)
            return self._index

    def _live_entries(self, ids: list[int], owner: str | None) -> dict[int, Entry]:
        if not ids:
            return {}
        # By id only, scope checked here: with "trashed IS NULL" in the SQL, SQLite scanned the live pictures'
        # index instead of looking the ids up (250 ms at 100,000 pictures instead of 1).
        sql = f"SELECT {COLUMNS} FROM images i WHERE i.id IN ({','.join('?' * len(ids))})"
        with self._read() as db:
            found = read_entries(db, sql, ids)
        return {entry.id: entry for entry in found
                if entry.trashed is None and (owner is None or entry.owner == owner)}

    def _pending(self, owner: str | None) -> int:
        with self._state:
            if not (self._busy or self._dirty):
                return 0
        scope, args = ("AND i.owner = ?", [owner]) if owner is not None else ("", [])
        with self._read() as db:
            return int(db.execute(
                f"SELECT count(*) FROM images i WHERE i.trashed IS NULL {scope} AND NOT EXISTS "
                "(SELECT 1 FROM image_vectors v WHERE v.kind = ? AND v.image_id = i.id)",
                [*args, self.embedder.kind]).fetchone()[0])

    # ------------------------------------------------------------------------------------------ the index
    def _read(self) -> _Access:
        return _Access(self.history, write=False)

    def _write(self) -> _Access:
        return _Access(self.history, write=True)


class _Access:
    """The history's connection under its lock (a transaction for writes); a storage error becomes
    HistoryUnavailable, which says what to check (the API answers 503)."""

    def __init__(self, history: History, write: bool) -> None:
        self.history = history
        self.write = write
        self._tx = history.transaction()

    def __enter__(self) -> sqlite3.Connection:
        try:
            return self._tx.__enter__()
        except sqlite3.Error as exc:
            raise _unavailable(self.history, exc) from exc

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            self._tx.__exit__(kind, exc, tb)
        except sqlite3.Error as error:
            raise _unavailable(self.history, error) from error
        if isinstance(exc, sqlite3.Error):
            raise _unavailable(self.history, exc) from exc


def _unavailable(history: History, exc: sqlite3.Error) -> HistoryUnavailable:
    return HistoryUnavailable(f"The picture search is unavailable: {exc}. Check that {history.data_dir} is "
                              "writable and the disk is not full; the pictures are not touched.")


def attach(history: History, clip_vision: Path | None, device: DeviceConfig | None = None) -> SimilarPictures:
    """The similarity search of `history`, told of every picture it indexes, with the CLIP vision encoder in
    `clip_vision` if there is a usable one (loaded on first use) or the perceptual descriptor."""
    embedder, why = choose_embedder(clip_vision, device)
    log.info("find similar: pictures are compared with %s", why)
    similar = SimilarPictures(history, embedder)
    history.listeners.append(similar.notify)
    return similar
