"""Prompt help from history: completions of what is being typed, from the user's own past prompts and the
LoRA and embedding names, ranked by how often the user used them.

A prompt is split into its fragments at commas and line breaks ("a blue fox, masterpiece, <lora:ink:0.8>"
-> "a blue fox", "masterpiece"), LoRA tags aside; a fragment's use count is the number of the user's live
pictures whose prompt or negative prompt holds it. The wall between users is the index's owner column: with
accounts, a user's suggestions come from the pictures saved under their name only, whoever asks (an admin
too: suggestions are the asker's own habits, not a view of everybody's prompts). Without accounts every
picture is the one user's.

Counts are kept per user and brought up to date from the index at each request: new pictures are counted,
trashed or deleted ones taken out (what each picture added is remembered), never a recount from scratch.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from modules.core.prompts import extract_loras
from modules.service.history import History

__all__ = ["MAX_PREFIX", "PromptSuggestions", "Suggestion", "fragments"]

MAX_FRAGMENT = 160  # characters: longer pieces are paragraphs, not something to complete
MAX_PREFIX = 200
LORA_WEIGHT = "1"  # A1111's default multiplier when a LoRA is picked from its card
_SPLIT = re.compile(r"[,\n]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Suggestion:
    text: str  # what to insert
    kind: str  # "prompt", "lora" or "embedding"
    uses: int  # how many of the user's pictures used it


def _key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


def fragments(prompt: str) -> list[str]:
    """The prompt's comma- (or line-) separated pieces, LoRA tags taken out, in order, without repeats."""
    text = extract_loras(prompt)[0] if "<" in prompt else prompt
    seen: dict[str, str] = {}
    for piece in _SPLIT.split(text):
        piece = _SPACES.sub(" ", piece).strip()
        if piece and len(piece) <= MAX_FRAGMENT:
            seen.setdefault(piece.casefold(), piece)
    return list(seen.values())


@dataclass
class _Counts:
    """One user's counts, and what of the index they reflect."""

    signature: tuple[int, int, float] = (-1, 0, 0.0)  # count, max and sum of the live pictures' ids counted
    # (history generation, the connection's total_changes) when last checked: every save, trash and delete
    # goes through that connection, so while it is unchanged a keystroke needs no query at all.
    changes: tuple[int, int] = (-1, -1)
    uses: Counter[str] = field(default_factory=Counter)  # fragment key -> pictures
    text: dict[str, str] = field(default_factory=dict)  # fragment key -> its latest spelling
    recent: dict[str, int] = field(default_factory=dict)  # fragment key -> newest picture id (breaks ties)
    loras: Counter[str] = field(default_factory=Counter)  # LoRA name (casefolded) -> pictures
    # What each counted picture added, so a picture trashed or deleted is taken out without a recount.
    by_id: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    def add(self, image_id: int, prompt: str, negative: str, loras: list[str]) -> None:
        keys = []
        for piece in dict.fromkeys(fragments(prompt) + fragments(negative)):
            key = piece.casefold()
            keys.append(key)
            self.uses[key] += 1
            self.text[key] = piece
            self.recent[key] = max(self.recent.get(key, 0), image_id)
        names = tuple(set(loras))
        for name in names:
            self.loras[name] += 1
        self.by_id[image_id] = (tuple(keys), names)

    def remove(self, image_id: int) -> None:
        keys, names = self.by_id.pop(image_id, ((), ()))
        for key in keys:
            self.uses[key] -= 1
            if self.uses[key] <= 0:
                del self.uses[key], self.text[key]
                self.recent.pop(key, None)
        for name in names:
            self.loras[name] -= 1
            if self.loras[name] <= 0:
                del self.loras[name]


class PromptSuggestions:
    """Suggestions for one history; thread-safe. `loras` and `embeddings` give the names in the models folders
    now (a LoRA or embedding used in the past but deleted since is not suggested)."""

    def __init__(self, history: History, loras: Callable[[], list[str]], embeddings: Callable[[], list[str]]) -> None:
        self.history = history
        self.loras = loras
        self.embeddings = embeddings
        self._counts: dict[str | None, _Counts] = {}
        self._lock = threading.Lock()

    def suggest(self, prefix: str, owner: str | None, limit: int = 10) -> list[Suggestion]:
        """Completions of `prefix` (the fragment being typed), best first. `owner`: the user whose prompts to
        use; None on an instance without accounts (all pictures)."""
        wanted = _key(prefix[-MAX_PREFIX:])
        if not wanted or limit < 1:
            return []
        counts = self._counts_of(owner)
        # Ranked by: how it matches, uses, then a model name before a prompt fragment, then the newest.
        ranked: list[tuple[tuple[int, int, int, int, str], Suggestion]] = []
        for key, uses in counts.uses.items():
            tier = _tier(key, wanted)
            if tier is not None and key != wanted:
                ranked.append(((tier, -uses, 1, -counts.recent.get(key, 0), key),
                               Suggestion(counts.text[key], "prompt", uses)))
        for name in self.loras():
            tag = f"<lora:{name}:{LORA_WEIGHT}>"
            tier = 0 if wanted.startswith("<") and tag.casefold().startswith(wanted) else _tier(name.casefold(), wanted)
            if tier is not None:
                uses = counts.loras.get(name.casefold(), 0)
                ranked.append(((tier, -uses, 0, 0, tag.casefold()), Suggestion(tag, "lora", uses)))
        for name in self.embeddings():
            tier = _tier(name.casefold(), wanted)
            if tier is not None and name.casefold() != wanted:
                uses = counts.uses.get(name.casefold(), 0)
                ranked.append(((tier, -uses, 0, 0, name.casefold()), Suggestion(name, "embedding", uses)))
        ranked.sort(key=lambda pair: pair[0])
        unique: dict[str, Suggestion] = {}
        for _, suggestion in ranked:  # an embedding name used in prompts shows once, as the embedding
            unique.setdefault(suggestion.text.casefold(), suggestion)
        return list(unique.values())[:limit]

    def _counts_of(self, owner: str | None) -> _Counts:
        """The owner's counts, brought up to date: pictures added since are counted, pictures gone (trashed,
        deleted) taken out; the ids' count, max and sum tell cheaply whether anything changed."""
        scope, args = ("AND owner = ?", [owner]) if owner is not None else ("", [])
        with self._lock:
            counts = self._counts.setdefault(owner, _Counts())
            if counts.changes == (self.history.generation, self.history.db.total_changes):
                return counts
            with self.history.transaction() as db:
                changes = (self.history.generation, db.total_changes)  # under the history's lock: nothing moves
                signature = tuple(db.execute(f"SELECT count(*), coalesce(max(id), 0), total(id) FROM images "
                                             f"WHERE trashed IS NULL {scope}", args).fetchone())
                if signature == counts.signature:
                    counts.changes = changes
                    return counts
                live = {row[0] for row in db.execute(f"SELECT id FROM images WHERE trashed IS NULL {scope}", args)}
                for gone in counts.by_id.keys() - live:
                    counts.remove(gone)
                new = sorted(live - counts.by_id.keys())
                for start in range(0, len(new), 500):  # SQLite's limit on bound parameters
                    self._count(db, counts, new[start:start + 500])
                counts.signature, counts.changes = signature, changes  # type: ignore[assignment]
            return counts

    @staticmethod
    def _count(db: object, counts: _Counts, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        loras: dict[int, list[str]] = {}
        for image_id, name in db.execute(  # type: ignore[attr-defined]
                f"SELECT image_id, name FROM image_loras WHERE image_id IN ({marks})", ids):
            loras.setdefault(image_id, []).append(name.casefold())
        rows = db.execute(  # type: ignore[attr-defined]
            f"SELECT id, prompt, negative_prompt FROM images WHERE id IN ({marks}) ORDER BY id", ids)
        for image_id, prompt, negative in rows:
            counts.add(image_id, prompt or "", negative or "", loras.get(image_id, []))


def _tier(key: str, wanted: str) -> int | None:
    """0 when `key` starts with what is typed, 1 when one of its words does, None otherwise."""
    if key.startswith(wanted):
        return 0
    position = key.find(wanted)
    while position > 0:
        if not key[position - 1].isalnum():
            return 1
        position = key.find(wanted, position + 1)
    return None
