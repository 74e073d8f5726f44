"""Prompt help from history: completions of what is being typed, from the user's own past prompts and the
LoRA and embedding names, ranked by how often the user used them.

A prompt is split into its fragments at commas and line breaks ("a blue fox, masterpiece, <lora:ink:0.8>"
-> "a blue fox", "masterpiece"), LoRA tags aside; a fragment's use count is the number of the user's live
pictures whose prompt or negative prompt holds it. The wall between users is the index's owner column: with
accounts, a user's suggestions come from the pictures saved under their name only, whoever asks (an admin
too: suggestions are the asker's own habits, not a view of everybody's prompts). Without accounts every
picture is the one user's.

Counts are kept per user and brought up to date from the index at each request: new pictures are added, and
a delete (or anything else) recounts from scratch.
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

    live: int = -1  # live pictures counted
    last_id: int = 0  # the newest picture counted
    uses: Counter[str] = field(default_factory=Counter)  # fragment key -> pictures
    text: dict[str, str] = field(default_factory=dict)  # fragment key -> its latest spelling
    recent: dict[str, int] = field(default_factory=dict)  # fragment key -> newest picture id (breaks ties)
    loras: Counter[str] = field(default_factory=Counter)  # LoRA name (casefolded) -> pictures

    def add(self, image_id: int, prompt: str, negative: str, loras: list[str]) -> None:
        for piece in dict.fromkeys(fragments(prompt) + fragments(negative)):
            key = piece.casefold()
            self.uses[key] += 1
            self.text[key] = piece
            self.recent[key] = max(self.recent.get(key, 0), image_id)
        for name in set(loras):
            self.loras[name] += 1


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
        scope, args = ("AND owner = ?", [owner]) if owner is not None else ("", [])
        with self._lock:
            counts = self._counts.get(owner)
            with self.history.transaction() as db:
                live, last_id = db.execute(
                    f"SELECT count(*), coalesce(max(id), 0) FROM images WHERE trashed IS NULL {scope}", args).fetchone()
                if counts is not None and (live, last_id) == (counts.live, counts.last_id):
                    return counts
                since = counts.last_id if counts is not None and last_id > counts.last_id else None
                if since is not None:
                    added = db.execute(f"SELECT count(*) FROM images WHERE trashed IS NULL {scope} AND id > ?",
                                       [*args, since]).fetchone()[0]
                    if counts.live + added != live:  # something was also deleted: recount
                        since = None
                if since is None:
                    counts = _Counts()
                counts.live, counts.last_id = live, last_id
                self._count(db, counts, scope, args, since or 0)
            self._counts[owner] = counts
            return counts

    @staticmethod
    def _count(db: object, counts: _Counts, scope: str, args: list[object], since: int) -> None:
        loras: dict[int, list[str]] = {}
        for image_id, name in db.execute(  # type: ignore[attr-defined]
                f"SELECT l.image_id, l.name FROM image_loras l JOIN images i ON i.id = l.image_id "
                f"WHERE i.trashed IS NULL {scope.replace('owner', 'i.owner')} AND i.id > ?", [*args, since]):
            loras.setdefault(image_id, []).append(name.casefold())
        rows = db.execute(  # type: ignore[attr-defined]
            f"SELECT id, prompt, negative_prompt FROM images WHERE trashed IS NULL {scope} AND id > ? ORDER BY id",
            [*args, since])
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
