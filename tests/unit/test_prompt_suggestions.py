"""Prompt help from history: completions from the user's own past prompts (never another user's), and the
LoRA and embedding names, ranked by use."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.service.history import History
from modules.service.prompt_suggestions import PromptSuggestions, fragments


def text(prompt: str, negative: str = "") -> str:
    neg = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{neg}\nSteps: 4, Sampler: Euler a, Seed: 1, Size: 8x8, Model: tiny"


@pytest.fixture
def history(tmp_path: Path):
    history = History(tmp_path / "outputs")
    yield history
    history.close()


def record(history: History, prompt: str, owner: str | None, negative: str = "") -> int:
    record.count = getattr(record, "count", 0) + 1
    folder = f"{owner}/txt2img-images" if owner else "txt2img-images"
    return history.record(history.root / folder / f"{record.count:05d}.png", text(prompt, negative), owner=owner,
                          size=(8, 8))


def texts(found) -> list[str]:
    return [s.text for s in found]


def suggestions(history: History, loras=(), embeddings=()) -> PromptSuggestions:
    return PromptSuggestions(history, lambda: list(loras), lambda: list(embeddings))


def test_a_prompt_splits_into_its_fragments_without_lora_tags():
    assert fragments("a blue fox, masterpiece,\nbest quality <lora:ink:0.8>, , Masterpiece") == [
        "a blue fox", "masterpiece", "best quality"]


def test_fragments_are_ranked_by_how_many_pictures_used_them(history):
    for prompt in ("a blue fox, masterpiece", "a red fox, masterpiece", "a blue fox, mountains",
                   "a blue fox, masterpiece", "misty forest"):
        record(history, prompt, "alice")
    found = suggestions(history).suggest("m", "alice")
    assert texts(found) == ["masterpiece", "misty forest", "mountains"]  # a tie: the newest first
    assert [s.uses for s in found] == [3, 1, 1] and {s.kind for s in found} == {"prompt"}
    assert texts(suggestions(history).suggest("fo", "alice")) == ["a blue fox", "misty forest", "a red fox"]


def test_a_word_inside_a_fragment_is_matched_after_fragments_starting_with_it(history):
    record(history, "foxglove meadow", "alice")
    record(history, "a blue fox", "alice")
    record(history, "a blue fox", "alice")
    assert texts(suggestions(history).suggest("fox", "alice")) == ["foxglove meadow", "a blue fox"]
    assert suggestions(history).suggest("ox", "alice") == []  # inside a word is no match


def test_bob_never_sees_alices_prompts(history):
    record(history, "alice's secret castle", "alice")
    record(history, "bob's boat", "bob")
    helper = suggestions(history)
    assert texts(helper.suggest("alice", "alice")) == ["alice's secret castle"]
    assert helper.suggest("alice", "bob") == [] and helper.suggest("secret", "bob") == []
    assert texts(helper.suggest("b", "bob")) == ["bob's boat"]
    assert helper.suggest("b", "root") == []  # an admin's suggestions are their own prompts too


def test_without_accounts_every_picture_is_the_one_users(history):
    record(history, "castle on a hill", None)
    assert texts(suggestions(history).suggest("cas", None)) == ["castle on a hill"]


def test_lora_and_embedding_names_are_suggested_ranked_by_use(history):
    record(history, "a fox <lora:ink:0.8>, easynegative", "alice", negative="badhands")
    record(history, "a cat <lora:ink:1>", "alice")
    record(history, "a dog <lora:pastel:1>", "alice")
    helper = suggestions(history, loras=["pastel", "ink", "unused"], embeddings=["badhands", "easynegative"])
    assert texts(helper.suggest("<lora:", "alice")) == ["<lora:ink:1>", "<lora:pastel:1>", "<lora:unused:1>"]
    found = helper.suggest("ink", "alice")
    assert (found[0].text, found[0].kind, found[0].uses) == ("<lora:ink:1>", "lora", 2)
    found = helper.suggest("easy", "alice")
    assert [(s.text, s.kind, s.uses) for s in found] == [("easynegative", "embedding", 1)]  # once, as the embedding
    assert texts(helper.suggest("bad", "alice")) == ["badhands"]  # negative prompts count too


def test_new_pictures_count_at_once_and_a_trashed_one_stops_counting_until_restored(history):
    helper = suggestions(history)
    record(history, "sunset", "alice")
    assert helper.suggest("sun", "alice")[0].uses == 1
    second = record(history, "sunset, sunflowers", "alice")
    assert [(s.text, s.uses) for s in helper.suggest("sun", "alice")] == [("sunset", 2), ("sunflowers", 1)]
    history.db.execute("UPDATE images SET trashed = 1 WHERE id = ?", (second,))  # as trash() marks it
    assert [(s.text, s.uses) for s in helper.suggest("sun", "alice")] == [("sunset", 1)]
    history.db.execute("UPDATE images SET trashed = NULL WHERE id = ?", (second,))  # restored
    assert [(s.text, s.uses) for s in helper.suggest("sun", "alice")] == [("sunset", 2), ("sunflowers", 1)]
    history.db.execute("DELETE FROM images WHERE id = ?", (second,))  # the trash emptied
    assert [(s.text, s.uses) for s in helper.suggest("sun", "alice")] == [("sunset", 1)]


def test_nothing_typed_suggests_nothing_and_the_exact_text_is_not_repeated(history):
    record(history, "sunset", "alice")
    helper = suggestions(history)
    assert helper.suggest("", "alice") == [] and helper.suggest("   ", "alice") == []
    assert helper.suggest("sunset", "alice") == []
