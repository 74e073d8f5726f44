"""The procedural data set, its captions, the scorer, and the tokenizer trained on its vocabulary."""

from __future__ import annotations

import random

import numpy as np
import pytest

from training import shapes
from training.evaluate import evaluate_ground_truth
from training.scoring import read_picture, score


def test_same_seed_same_sample_and_caption():
    a = shapes.training_sample(7, 48)
    b = shapes.training_sample(7, 48)
    assert a.caption == b.caption
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_full_caption_wording():
    scene = shapes.Scene("circle", "red", "blue", "left", "large")
    assert scene.caption() == "a large red circle on a blue background, on the left"
    assert shapes.Scene("star", "pink", "gray", "center", "small").caption().endswith(", in the center")


def test_held_out_scenes_never_in_training():
    held = frozenset(s.key() for s in shapes.held_out_scenes())
    assert len(held) == 40
    rng = random.Random(0)
    for _ in range(2000):
        assert shapes.random_scene(rng, held).key() not in held


def test_object_colour_never_equals_background():
    assert all(s.colour != s.background for s in shapes.all_scenes())


@pytest.mark.parametrize("size", [48, 64])
def test_scorer_reads_ground_truth(size):
    scores = evaluate_ground_truth(40, 2, size)
    assert all(v >= 0.98 for v in scores.values()), scores


def test_scorer_notices_wrong_pictures():
    rng = random.Random(3)
    sample = shapes.render(shapes.Scene("square", "red", "black", "top", "large"), 48, rng)
    wrong = shapes.Scene("circle", "blue", "white", "bottom", "small")
    assert not any(score(sample.image, wrong).values())


def test_scorer_on_empty_picture():
    from PIL import Image

    reading = read_picture(Image.new("RGB", (48, 48), (20, 20, 20)))
    assert reading.background == "black" and reading.shape is None


def test_scribble_and_mask_helpers():
    sample = shapes.render(shapes.Scene("circle", "red", "blue", "center", "large"), 64, random.Random(0))
    scribble = np.asarray(shapes.scribble(sample, random.Random(0)).convert("L")) > 127
    assert 0 < scribble.mean() < 0.3
    ys, xs = np.nonzero(scribble)
    assert abs(xs.mean() - 32) < 4 and abs(ys.mean() - 32) < 4  # around the circle's centre
    mask = np.asarray(shapes.random_mask(64, random.Random(1))) > 0
    assert 0 < mask.mean() < 1


def test_tokenizer_makes_caption_words_single_tokens(tmp_path):
    from transformers import CLIPTokenizer

    from training.tokenizer import write_clip_tokenizer

    size = write_clip_tokenizer(tmp_path, shapes.caption_vocabulary())
    tok = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert len(tok) == size
    tokens = tok.convert_ids_to_tokens(tok("a large red circle on a blue background").input_ids)
    assert tokens[1:-1] == ["a</w>", "large</w>", "red</w>", "circle</w>", "on</w>", "a</w>", "blue</w>", "background</w>"]
    # Words outside the vocabulary still tokenise, from byte symbols.
    assert len(tok("zebra").input_ids) > 3
