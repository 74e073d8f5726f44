"""Nearest pictures by embedding: an in-memory matrix of unit vectors, searched by dot product.

The history's similarity search (service/history_similar.py) keeps one of these per embedding kind: rows are
appended as pictures are embedded, each with its picture id and owner, and a search scores every row the
caller may see in one matrix-vector product (100,000 rows of 200 floats: a few milliseconds). The database
stays the authority: ids found here are read back from it, so a picture trashed since is simply not shown.

Vectors cross this module's boundary as bytes (float32, little-endian, as stored in SQLite), so the service
layer never handles numpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["Hit", "VectorIndex", "from_bytes", "to_bytes"]

_DTYPE = np.dtype("<f4")


def to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=_DTYPE).tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_DTYPE)


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


@dataclass(frozen=True)
class Hit:
    id: int
    score: float  # cosine similarity, 1 = the same picture


class VectorIndex:
    """Unit vectors of one kind and size, with the picture id and owner of each. Thread-safe."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._lock = threading.Lock()
        self._vectors = np.zeros((0, dimensions), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._owners = np.zeros(0, np.int32)  # codes of _owner_codes; -1 = no owner (shared layout)
        self._owner_codes: dict[str, int] = {}
        self._count = 0
        self._positions: dict[int, int] = {}  # picture id -> row

    def __len__(self) -> int:
        return self._count

    def __contains__(self, image_id: int) -> bool:
        return image_id in self._positions

    def add(self, image_id: int, owner: str | None, blob: bytes) -> None:
        """Add (or replace) one picture's vector; a vector of another size is refused (another kind)."""
        vector = from_bytes(blob)
        if vector.shape != (self.dimensions,):
            raise ValueError(f"a vector of {vector.size} numbers cannot join an index of {self.dimensions}")
        with self._lock:
            row = self._positions.get(image_id)
            if row is None:
                row = self._count
                self._grow(row + 1)
                self._count += 1
                self._positions[image_id] = row
            self._vectors[row] = unit(vector)
            self._ids[row] = image_id
            self._owners[row] = self._code(owner)

    def add_many(self, rows: list[tuple[int, str | None, bytes]]) -> None:
        """Add (id, owner, vector) rows at once: loading 100,000 stored vectors takes a moment, not minutes.
        Rows of another size are skipped (they belong to no kind this index holds)."""
        size = self.dimensions * _DTYPE.itemsize
        rows = [row for row in rows if len(row[2]) == size]
        if not rows:
            return
        matrix = np.frombuffer(b"".join(row[2] for row in rows), dtype=_DTYPE).reshape(len(rows), self.dimensions)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 1e-12, norms, 1)
        with self._lock:
            places = []
            for image_id, _, _ in rows:  # a repeated id keeps its row; new ids take the next free ones
                row = self._positions.get(image_id)
                if row is None:
                    row = self._positions[image_id] = self._count
                    self._count += 1
                places.append(row)
            self._grow(self._count)
            where = np.fromiter(places, np.int64, len(places))
            self._vectors[where] = matrix
            self._ids[where] = np.fromiter((row[0] for row in rows), np.int64, len(rows))
            self._owners[where] = np.fromiter((self._code(row[1]) for row in rows), np.int32, len(rows))

    def vector(self, image_id: int) -> bytes | None:
        with self._lock:
            row = self._positions.get(image_id)
            return None if row is None else to_bytes(self._vectors[row])

    def _code(self, owner: str | None) -> int:
        if owner is None:
            return -1
        return self._owner_codes.setdefault(owner, len(self._owner_codes))

    def _grow(self, needed: int) -> None:
        if needed <= len(self._ids):
            return
        capacity = max(needed, 2 * len(self._ids), 1024)  # doubling: appending one at a time stays cheap
        for name in ("_vectors", "_ids", "_owners"):
            old = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def search(self, query: bytes, owner: str | None, limit: int, *,
               exclude: frozenset[int] = frozenset()) -> list[Hit]:
        """The `limit` rows most similar to `query`, best first: `owner`'s rows, or everybody's for None."""
        vector = unit(from_bytes(query).astype(np.float32))
        if vector.shape != (self.dimensions,):
            raise ValueError(f"a query of {vector.size} numbers cannot search an index of {self.dimensions}")
        with self._lock:
            count = self._count
            scores = self._vectors[:count] @ vector
            if owner is not None:  # a user who owns nothing yet matches no row (code -2)
                scores = np.where(self._owners[:count] == self._owner_codes.get(owner, -2), scores, -np.inf)
            ids = self._ids[:count].copy()
        for image_id in exclude:
            row = self._positions.get(image_id)
            if row is not None and row < count:
                scores[row] = -np.inf
        take = min(limit, count)
        if take <= 0:
            return []
        best = np.argpartition(-scores, take - 1)[:take] if take < count else np.arange(count)
        best = best[np.argsort(-scores[best], kind="stable")]
        return [Hit(int(ids[row]), float(scores[row])) for row in best if np.isfinite(scores[row])]
