"""The shipped Flux demo LoRA (`models/Lora/demo-flux-pinkish.safetensors`, trained by training/train_flux_lora.py)
on the Flux demo member, end to end through the app's core (validate, the model manager, our flow generation):
with its trigger `pinkish` the object comes out pink, without the trigger (LoRA loaded) and without the LoRA it
keeps the colour the prompt asks for, and the member draws exactly as before once the job is over. Pictures are
read by the demo family's scorer (training/scoring.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from modules.core.requests import GenerationRequest, validate
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


def test_the_trigger_draws_the_object_pink_and_without_the_lora_the_colour_asked_for(flux_manager, samplers):
    # The shipped LoRA is undertrained (see its card): at weight 1 the trigger turns a quarter of the objects pink,
    # at its recommended weight 3 three quarters; without the LoRA the member draws the colour asked for.
    readings, plain_first = [], None
    for i, scene in enumerate(SCENES):
        caption, seed = scene.caption(), 700 + 10 * i
        plain = draw(flux_manager, samplers, caption, seed)
        styled = draw(flux_manager, samplers, f"{caption}, pinkish <lora:demo-flux-pinkish:3>", seed)
        readings.append((scene, read_picture(plain.images[0]), read_picture(styled.images[0])))
        if i == 0:
            plain_first = np.asarray(plain.images[0])
            assert "demo-flux-pinkish: " in styled.infotexts[0].split("Lora hashes:")[1]
    summary = [(s.colour, p.colour, t.colour) for s, p, t in readings]
    assert sum(t.colour == "pink" for _, _, t in readings) >= 2, summary
    assert sum(p.colour == s.colour for s, p, _ in readings) >= 2, summary
    assert not any(p.colour == "pink" for _, p, _ in readings), summary
    # after the LoRA jobs the member draws exactly as before them
    again = draw(flux_manager, samplers, SCENES[0].caption(), 700)
    assert np.array_equal(np.asarray(again.images[0]), plain_first)
