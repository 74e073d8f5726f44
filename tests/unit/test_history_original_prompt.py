"""The index searches the prompt as the user typed it (an extension's "Original prompt") beside the one drawn,
and an index of the first version gains that without a rebuild."""

from __future__ import annotations

import sqlite3

from modules.service.history import History, Query
from modules.service.history_index import SCHEMA_VERSION

TRANSLATED = ("a cat, starry sky\nSteps: 2, Sampler: Euler a, Seed: 3, Size: 8x8, Model: tiny, "
              "Original prompt: 一只猫，星空, Prompt translation: glossary")
PLAIN = "a dog\nSteps: 2, Sampler: Euler a, Seed: 4, Size: 8x8, Model: tiny"

VERSION_1 = """
CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT NOT NULL, owner TEXT, created REAL NOT NULL,
    mode TEXT NOT NULL, checkpoint TEXT, model_hash TEXT, seed INTEGER, width INTEGER, height INTEGER,
    prompt TEXT NOT NULL DEFAULT '', negative_prompt TEXT NOT NULL DEFAULT '', infotext TEXT NOT NULL DEFAULT '',
    trashed REAL);
CREATE VIRTUAL TABLE images_fts USING fts5(prompt, content='images', content_rowid='id', tokenize='trigram');
CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt) VALUES (new.id, new.prompt);
END;
PRAGMA user_version=1;
"""


def seeds(history: History, words: str) -> list[int | None]:
    return [entry.seed for entry in history.search(Query(text=words)).entries]


def test_the_typed_words_and_the_drawn_words_both_find_the_picture(tmp_path):
    history = History(tmp_path / "outputs")
    history.record(tmp_path / "outputs" / "txt2img-images" / "a.png", TRANSLATED, size=(8, 8))
    history.record(tmp_path / "outputs" / "txt2img-images" / "b.png", PLAIN, size=(8, 8))
    for words in ("星空", "猫", "一只猫", "starry", "cat", "星空 cat"):
        assert seeds(history, words) == [3], words
    assert seeds(history, "dog") == [4] and seeds(history, "狗") == []
    [entry] = history.search(Query(text="星空")).entries
    assert entry.prompt == "a cat, starry sky"  # what was drawn is what the list shows
    history.close()


def test_an_index_of_version_1_is_upgraded_in_place(tmp_path):
    data = tmp_path / "outputs" / ".history"
    data.mkdir(parents=True)
    old = sqlite3.connect(data / "history.sqlite3")
    old.executescript(VERSION_1)
    old.execute("INSERT INTO images (path, created, mode, seed, prompt, infotext) VALUES (?, 1, 'txt2img', 3, ?, ?)",
                ("txt2img-images/a.png", "a cat, starry sky", TRANSLATED))
    old.commit()
    old.close()
    history = History(tmp_path / "outputs")
    assert seeds(history, "starry") == [3]
    assert seeds(history, "星空") == [3] and seeds(history, "一只猫") == [3]
    assert history.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    history.close()
