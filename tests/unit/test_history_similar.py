"""Search the history by picture: vectors made as pictures are saved (and for older ones in the background),
the nearest pictures in the caller's scope, kinds of vectors never mixed, a v2 index upgraded in place."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.engine import perceptual
from modules.engine.picture_embedders import PerceptualEmbedder, choose_embedder
from modules.engine.vector_index import VectorIndex, to_bytes
from modules.service.history import History
from modules.service.history_index import SCHEMA_VERSION
from modules.service.history_similar import SimilarPictures
from modules.service.outputs import OutputStore

COLOURS = {"red": (220, 30, 30), "blue": (35, 75, 225), "green": (30, 165, 55), "yellow": (245, 220, 30),
           "white": (245, 245, 245), "black": (20, 20, 20)}


def drawn(shape: str, colour: str, background: str, *, centre=(24, 24), radius=11, side=48) -> Image.Image:
    image = Image.new("RGB", (side * 4, side * 4), COLOURS[background])
    draw = ImageDraw.Draw(image)
    x, y, r = centre[0] * 4, centre[1] * 4, radius * 4
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=COLOURS[colour])
    elif shape == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=COLOURS[colour])
    else:
        draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=COLOURS[colour])
    return image.resize((side, side), Image.Resampling.LANCZOS)


def text(prompt: str, seed: int = 1) -> str:
    return f"{prompt}\nSteps: 4, Sampler: Euler a, Seed: {seed}, Size: 48x48, Model: demo-shapes"


@pytest.fixture
def saved(tmp_path: Path):
    history = History(tmp_path / "outputs")
    similar = SimilarPictures(history, PerceptualEmbedder(), pause=0)
    history.listeners.append(similar.notify)
    yield OutputStore(tmp_path / "outputs", index=history), history, similar
    similar.stop()
    history.close()


def fill_scenes(outputs: OutputStore, user: str | None = None) -> None:
    rng = random.Random(1)
    for shape in ("circle", "square", "triangle"):
        for colour in ("red", "green", "yellow", "white"):
            for background in ("blue", "black"):
                centre = (rng.randint(16, 32), rng.randint(16, 32))
                outputs.save(drawn(shape, colour, background, centre=centre, radius=rng.randint(8, 13)),
                             "txt2img-images", 1, text(f"a {colour} {shape} on {background}"), user=user)


def test_a_red_circle_on_blue_finds_the_red_circles_on_blue_first(saved):
    outputs, history, similar = saved
    fill_scenes(outputs)
    for centre, radius in (((14, 30), 7), ((34, 16), 12)):
        outputs.save(drawn("circle", "red", "blue", centre=centre, radius=radius), "txt2img-images", 2,
                     text("another red circle on blue"))
    assert similar.wait_idle(60)
    found = similar.similar(drawn("circle", "red", "blue", centre=(26, 22), radius=10), None, limit=5)
    prompts = [item.entry.prompt for item in found.items]
    assert all(p.endswith("red circle on blue") for p in prompts[:3]), prompts  # the 3 there are
    assert not prompts[3].endswith("red circle on blue"), prompts
    assert found.items[0].score >= found.items[-1].score and found.kind == perceptual.KIND and found.pending == 0


def test_a_user_finds_only_their_own_pictures_and_an_admin_everyones(saved):
    outputs, history, similar = saved
    outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("alice's red circle"), user="alice")
    outputs.save(drawn("square", "green", "black"), "txt2img-images", 1, text("bob's green square"), user="bob")
    assert similar.wait_idle(30)
    query = drawn("circle", "red", "blue")
    assert [i.entry.prompt for i in similar.similar(query, "bob", limit=10).items] == ["bob's green square"]
    assert [i.entry.prompt for i in similar.similar(query, "carol", limit=10).items] == []
    assert [i.entry.prompt for i in similar.similar(query, None, limit=10).items] == ["alice's red circle",
                                                                                      "bob's green square"]


def test_a_trashed_picture_is_not_found_and_comes_back_when_restored(saved):
    outputs, history, similar = saved
    outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("red circle"))
    outputs.save(drawn("square", "green", "black"), "txt2img-images", 1, text("green square"))
    assert similar.wait_idle(30)
    query = drawn("circle", "red", "blue")
    first = similar.similar(query, None).items[0].entry
    history.trash(first.id)
    assert [i.entry.prompt for i in similar.similar(query, None).items] == ["green square"]
    history.restore(first.id)
    assert similar.similar(query, None).items[0].entry.id == first.id


def test_find_similar_to_a_picture_of_the_history_leaves_it_out(saved):
    outputs, history, similar = saved
    fill_scenes(outputs, user="alice")
    assert similar.wait_idle(60)
    red = next(e for e in history.search(owner="alice", per_page=200).entries if e.prompt == "a red circle on blue")
    found = similar.similar_to(red.id, "alice", limit=3)
    assert red.id not in [i.entry.id for i in found.items]
    assert "on blue" in found.items[0].entry.prompt
    with pytest.raises(LookupError):
        similar.similar_to(red.id, "bob")  # someone else's picture does not exist for bob


def test_vectors_of_another_kind_are_never_compared_and_the_new_kind_is_filled(saved, tmp_path):
    outputs, history, similar = saved
    outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("red circle"))
    assert similar.wait_idle(30)

    class Other:  # another model: a kind of its own, vectors of another size
        kind, dimensions = "clip:other:1:1", 8

        def embed(self, image):
            return to_bytes(np.eye(8, dtype=np.float32)[0])

    similar.embedder = Other()
    found = similar.similar(drawn("circle", "red", "blue"), None)  # waits for the pass to fill the new kind
    assert [i.entry.prompt for i in found.items] == ["red circle"] and found.kind == "clip:other:1:1"
    kinds = {k for (k,) in history.db.execute("SELECT kind FROM image_vectors")}
    assert kinds == {perceptual.KIND, "clip:other:1:1"}
    with pytest.raises(ValueError):
        VectorIndex(8).add(1, None, to_bytes(np.ones(perceptual.DIMENSIONS, np.float32)))


def test_an_index_of_version_2_is_upgraded_in_place_and_old_pictures_get_vectors(tmp_path):
    history = History(tmp_path / "outputs")
    outputs = OutputStore(tmp_path / "outputs", index=history)
    outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("an old red circle"))
    outputs.save(drawn("square", "green", "black"), "txt2img-images", 1, text("an old green square"))
    db = history.db  # make it a version 2 index: no vectors table
    db.execute("DROP TABLE image_vectors")
    db.execute("PRAGMA user_version=2")
    history.close()

    history = History(tmp_path / "outputs")
    assert history.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert history.search().total == 2  # nothing lost
    similar = SimilarPictures(history, PerceptualEmbedder(), pause=0)
    found = similar.similar(drawn("circle", "red", "blue"), None)  # starts the pass for the old pictures
    assert [i.entry.prompt for i in found.items] == ["an old red circle", "an old green square"]
    assert history.db.execute("SELECT count(*) FROM image_vectors").fetchone()[0] == 2
    similar.stop()
    history.close()


def test_an_unreadable_picture_gets_no_vector_and_is_not_tried_again(saved):
    outputs, history, similar = saved
    path = outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("soon broken"))
    assert similar.wait_idle(30)
    history.db.execute("DELETE FROM image_vectors")
    path.write_bytes(b"not a picture")
    assert similar.fill() == 1 and similar.fill() == 0
    assert similar.similar(drawn("circle", "red", "blue"), None).items == []


def test_without_a_clip_vision_model_the_perceptual_descriptor_is_used(tmp_path):
    embedder, why = choose_embedder(tmp_path / "clip_vision")
    assert embedder.kind == perceptual.KIND and "perceptual" in why
    (tmp_path / "clip_vision").mkdir()
    (tmp_path / "clip_vision" / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    embedder, why = choose_embedder(tmp_path / "clip_vision")
    assert embedder.kind == perceptual.KIND


def test_a_clip_vision_model_in_the_folder_makes_the_vectors(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = tmp_path / "clip_vision" / "tiny-encoder"
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, projection_dim=16, num_hidden_layers=2,
                              num_attention_heads=4, image_size=32, patch_size=8)
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    embedder, why = choose_embedder(tmp_path / "clip_vision")
    assert embedder.kind.startswith("clip:tiny-encoder:") and embedder.dimensions == 16 and "tiny-encoder" in why
    red = np.frombuffer(embedder.embed(drawn("circle", "red", "blue")), np.float32)
    again = np.frombuffer(embedder.embed(drawn("circle", "red", "blue")), np.float32)
    green = np.frombuffer(embedder.embed(drawn("square", "green", "black")), np.float32)
    assert red.shape == (16,) and abs(float(np.linalg.norm(red)) - 1) < 1e-5
    assert float(red @ again) > 0.9999 and float(red @ green) < 0.9999

    history = History(tmp_path / "outputs")
    similar = SimilarPictures(history, embedder, pause=0)
    history.listeners.append(similar.notify)
    outputs = OutputStore(tmp_path / "outputs", index=history)
    outputs.save(drawn("circle", "red", "blue"), "txt2img-images", 1, text("red circle"))
    outputs.save(drawn("square", "green", "black"), "txt2img-images", 1, text("green square"))
    found = similar.similar(drawn("circle", "red", "blue"), None)
    assert found.kind == embedder.kind and found.items[0].entry.prompt == "red circle"
    assert found.items[0].score > 0.9999
    similar.stop()
    history.close()


def test_the_vector_index_keeps_each_owners_rows_apart(tmp_path):
    index = VectorIndex(4)
    index.add_many([(1, "alice", to_bytes(np.array([1, 0, 0, 0], np.float32))),
                    (2, "bob", to_bytes(np.array([1, 0.1, 0, 0], np.float32))),
                    (3, "alice", to_bytes(np.array([0, 1, 0, 0], np.float32)))])
    query = to_bytes(np.array([1, 0, 0, 0], np.float32))
    assert [h.id for h in index.search(query, "alice", 5)] == [1, 3]
    assert [h.id for h in index.search(query, "bob", 5)] == [2]
    assert [h.id for h in index.search(query, None, 5)] == [1, 2, 3]
    assert [h.id for h in index.search(query, None, 5, exclude=frozenset({1}))] == [2, 3]
    assert index.search(query, "nobody", 5) == []
