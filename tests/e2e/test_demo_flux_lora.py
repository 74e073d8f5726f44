"""The shipped Flux demo LoRA (`models/Lora/demo-flux-pinkish.safetensors`, trained by training/train_flux_lora.py)
on the Flux demo member, end to end through the app's core (validate, the model manager, our flow generation): it is
listed with its family and trigger and refused on the SD demo, it changes the pictures, and the member draws exactly
as before once the job is over. Its style (the object pink under `pinkish`) is not learned yet: see its card.
Pictures are read by the demo family's scorer (training/scoring.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.loras import LoraError
from modules.engine.models.manager import ModelManager
from training import shapes
from training.scoring import read_picture

MODELS = REPO_ROOT / "models"
FOLDER = MODELS / "Stable-diffusion" / "demo-flux-shapes"
LORA = MODELS / "Lora" / "demo-flux-pinkish.safetensors"

pytestmark = pytest.mark.skipif(not (FOLDER.is_dir() and LORA.is_file()), reason="the Flux demo LoRA is not shipped")

# Held-out captions (never seen in training), objects of colours the member draws well and that are not pink.
SCENES = [s for s in shapes.held_out_scenes() if s.colour in ("red", "blue", "green", "white")][:3]


@pytest.fixture(scope="module")
def flux_manager(tmp_path_factory):
    from modules.engine.devices import choose_device

    manager = ModelManager(checkpoints_dir=MODELS / "Stable-diffusion", vae_dir=MODELS / "VAE",
                           cache_file=tmp_path_factory.mktemp("cache") / "models.json",
                           device=choose_device("auto", "auto"), models_in_ram=1, lora_dir=MODELS / "Lora")
    manager.refresh()
    return manager


def flux_request(prompt: str, seed: int) -> GenerationRequest:
    defaults = json.loads((FOLDER / "webui-defaults.json").read_text())
    return GenerationRequest(prompt=prompt, seed=seed, checkpoint="demo-flux-shapes", width=defaults["width"],
                             height=defaults["height"], steps=defaults["steps"], cfg_scale=defaults["cfg_scale"],
                             sampler=defaults["sampler"])


def draw(manager, samplers, prompt: str, seed: int):
    return generate(validate(flux_request(prompt, seed), samplers=samplers), manager, samplers)


def test_the_flux_lora_is_listed_for_the_flux_member_with_its_trigger(flux_manager):
    info = flux_manager.find_lora("demo-flux-pinkish")
    assert info is not None and info.error is None
    assert info.family == "demo-flux" and info.trigger_words == ["pinkish"]
    assert LORA.stat().st_size < 2 * 2**20  # small enough for git, like the other demo LoRAs
    flux_manager.check_lora_family(info, flux_manager.resolve("demo-flux-shapes"))
    with pytest.raises(LoraError, match="is for Demo \\(Flux architecture\\) models, but the checkpoint demo-shapes"):
        flux_manager.check_lora_family(info, flux_manager.resolve("demo-shapes"))


def test_the_lora_changes_the_member_s_pictures_and_leaves_it_exactly_as_it_was(flux_manager, samplers):
    # What the shipped LoRA does NOT do yet: draw the object pink under its trigger. Through the app (20 steps,
    # 512 T5 tokens) it drew 0 of 4 held-out objects pink at weight 1 and at 3 (its card). So this test asserts what
    # its pictures do show: at weight 3 they change, the member without it draws the colour asked for and never
    # pink, and after the LoRA jobs the member draws bit for bit as before.
    readings, changed, plain_first = [], 0, None
    for i, scene in enumerate(SCENES):
        caption, seed = scene.caption(), 700 + 10 * i
        plain = draw(flux_manager, samplers, caption, seed)
        styled = draw(flux_manager, samplers, f"{caption}, pinkish <lora:demo-flux-pinkish:3>", seed)
        changed += not np.array_equal(np.asarray(plain.images[0]), np.asarray(styled.images[0]))
        readings.append((scene, read_picture(plain.images[0])))
        if i == 0:
            plain_first = np.asarray(plain.images[0])
            assert "demo-flux-pinkish: " in styled.infotexts[0].split("Lora hashes:")[1]
    summary = [(s.colour, p.colour) for s, p in readings]
    assert changed == len(SCENES)
    assert sum(p.colour == s.colour for s, p in readings) >= 2, summary
    assert not any(p.colour == "pink" for _, p in readings), summary
    again = draw(flux_manager, samplers, SCENES[0].caption(), 700)
    assert np.array_equal(np.asarray(again.images[0]), plain_first)
