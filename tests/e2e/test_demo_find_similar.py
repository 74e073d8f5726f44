"""Search by picture on the demo model's pictures: among 200 past pictures (a few drawn by the demo model,
the rest the demo's procedural scenes of every colour, shape and background, saved and imported through the
app's own paths), a new demo picture of "a red circle on blue" finds the red circles on blue first."""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from modules.core.infotext import pnginfo_for
from modules.core.requests import GenerationRequest
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.manager import ModelManager
from modules.engine.picture_embedders import PerceptualEmbedder
from modules.service.history import History
from modules.service.history_import import import_folder
from modules.service.history_similar import SimilarPictures
from modules.service.outputs import OutputStore
from training import shapes

MODELS = REPO_ROOT / "models"
TARGET = ("circle", "red", "blue")
# What the demo model draws for the history (shape, colour, background, seed); the query is drawn apart.
DRAWN = (("circle", "red", "blue", 1), ("square", "red", "blue", 1), ("circle", "green", "blue", 1),
         ("circle", "red", "yellow", 1))
TOTAL = 200
STEPS = 12  # fewer than the model's 20: the shapes are there by then, and the test stays short


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from modules.engine.devices import choose_device

    manager = ModelManager(checkpoints_dir=MODELS / "Stable-diffusion", vae_dir=MODELS / "VAE",
                           cache_file=tmp_path_factory.mktemp("cache") / "models.json",
                           device=choose_device("auto", "auto"), models_in_ram=1)
    manager.refresh()
    defaults = json.loads((MODELS / "Stable-diffusion" / "demo-shapes" / "webui-defaults.json").read_text())

    def draw(shape: str, colour: str, background: str, seed: int, samplers) -> tuple[Image.Image, str]:
        request = GenerationRequest(prompt=f"a large {colour} {shape} on a {background} background", seed=seed,
                                    checkpoint="demo-shapes", width=defaults["width"], height=defaults["height"],
                                    steps=STEPS, cfg_scale=defaults["cfg_scale"],
                                    sampler=defaults["sampler"])
        result = generate(request, manager, samplers)
        return result.images[0], result.infotexts[0]

    return draw


def scenes(count: int) -> list[shapes.Scene]:
    """Every shape x colour x background (the object's colour never the background's), four more red circles
    on blue at other places and sizes, then random scenes up to `count`."""
    rng = random.Random(7)
    found = [shapes.Scene(shape, colour, background, rng.choice(list(shapes.POSITIONS)),
                          rng.choice(list(shapes.SIZES)))
             for shape in shapes.SHAPES for colour in shapes.OBJECT_COLOURS
             for background in shapes.BACKGROUND_COLOURS if colour != background]
    found += [shapes.Scene("circle", "red", "blue", where, size)
              for where, size in (("left", "small"), ("top", "large"), ("right", "large"), ("bottom", "small"))]
    while len(found) < count:
        found.append(shapes.random_scene(rng))
    return found[:count]


def infotext(scene: shapes.Scene, seed: int) -> str:
    return f"{scene.caption()}\nSteps: 20, Sampler: Euler a, Seed: {seed}, Size: 48x48, Model: demo-shapes"


@pytest.mark.timeout(1800)  # five demo pictures: minutes on a busy 2-core machine
def test_a_new_red_circle_on_blue_finds_the_red_circles_on_blue_first(demo, samplers, tmp_path):
    history = History(tmp_path / "outputs")
    similar = SimilarPictures(history, PerceptualEmbedder(), pause=0)
    history.listeners.append(similar.notify)
    outputs = OutputStore(tmp_path / "outputs", index=history)
    truth: dict[str, tuple[str, str, str]] = {}  # picture's path -> (shape, colour, background)

    for shape, colour, background, seed in DRAWN:  # drawn by the demo model, saved as a job saves
        image, text = demo(shape, colour, background, seed, samplers)
        truth[history.rel(outputs.save(image, "txt2img-images", seed, text))] = (shape, colour, background)
    rng = random.Random(3)
    elsewhere = tmp_path / "a1111-outputs"
    for number, scene in enumerate(scenes(TOTAL - len(DRAWN))):
        picture, text = shapes.render(scene, 48, rng).image, infotext(scene, number)
        label = (scene.shape, scene.colour, scene.background)
        if number % 2:  # half saved by the app, half imported from another WebUI's folder
            truth[history.rel(outputs.save(picture, "txt2img-images", number, text))] = label
        else:
            elsewhere.mkdir(exist_ok=True)
            picture.save(elsewhere / f"{number:05d}.png", pnginfo=pnginfo_for(text))
            truth[f"imported/{elsewhere.name}/{number:05d}.png"] = label
    assert import_folder(history, elsewhere).imported == (TOTAL - len(DRAWN) + 1) // 2
    assert history.search().total == TOTAL
    assert similar.wait_idle(120)

    query, _ = demo("circle", "red", "blue", 11, samplers)  # a new picture, not in the history
    found = similar.similar(query, None, limit=TOTAL)
    assert len(found.items) == TOTAL and found.pending == 0
    labels = [truth[item.entry.path] for item in found.items]
    expected = sum(label == TARGET for label in truth.values())
    assert expected >= 6
    assert labels[:expected] == [TARGET] * expected, [(label, round(item.score, 3), item.entry.path) for label, item
                                                      in zip(labels[:expected + 3], found.items)]
    similar.stop()
    history.close()
