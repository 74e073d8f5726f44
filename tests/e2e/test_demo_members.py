"""The shipped demo members end to end through the app's core: inpainting, the scribble ControlNet and the
night LoRA (and its baked checkpoint). Each test asserts what the pictures show, on a few seeds."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from modules.core.requests import ControlUnit, GenerationRequest
from modules.core.validation import validate
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.imaging import blur_mask
from modules.engine.models.manager import ModelManager
from training import shapes
from training.evaluate_members import pen_drawing
from training.members import free_sample, object_mask
from training.scoring import _nearest, read_picture

MODELS = REPO_ROOT / "models"
BASE = GenerationRequest(sampler="Euler a", steps=20, cfg_scale=5.0, width=48, height=48)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    from modules.engine.devices import choose_device

    manager = ModelManager(checkpoints_dir=MODELS / "Stable-diffusion", vae_dir=MODELS / "VAE",
                           cache_file=tmp_path_factory.mktemp("cache") / "models.json",
                           device=choose_device("auto", "auto"), models_in_ram=2,
                           controlnet_dir=MODELS / "ControlNet", lora_dir=MODELS / "Lora")
    manager.refresh()
    return manager


def run(manager, samplers, request):
    return generate(validate(request, samplers=samplers), manager, samplers)


def needs(path):
    if not path.exists():
        pytest.skip(f"{path.relative_to(REPO_ROOT)} is not trained yet")


def test_inpainting_member_repaints_the_object_and_keeps_the_rest(members, samplers):
    needs(MODELS / "Stable-diffusion" / "demo-shapes-inpainting")
    recoloured = 0
    for i in range(3):
        rng = random.Random(4_000 + i)
        scene = shapes.Scene("circle", "red", "blue", "center", "large")
        sample = shapes.render(scene, 48, rng)
        mask = object_mask(sample, rng)
        request = replace(BASE, mode="inpaint", checkpoint="demo-shapes-inpainting", init_images=(sample.image,),
                          mask=mask, denoising_strength=1.0, seed=i,
                          prompt="a large yellow circle on a blue background, in the center")
        out = np.asarray(run(members, samplers, request).images[0].convert("RGB"))
        outside = np.asarray(blur_mask(mask, request.mask_blur)) == 0
        assert np.array_equal(out[outside], np.asarray(sample.image)[outside])
        inside = out[np.asarray(mask) >= 128].astype(np.float32)
        blue = np.array(shapes.BACKGROUND_COLOURS["blue"], dtype=np.float32)
        objectish = inside[np.linalg.norm(inside - blue, axis=1) > 70]
        recoloured += len(objectish) > 20 and _nearest(np.median(objectish, axis=0), shapes.OBJECT_COLOURS) == "yellow"
    assert recoloured >= 2


def test_scribble_controlnet_fills_the_drawn_shape_where_it_was_drawn(members, samplers):
    needs(MODELS / "ControlNet" / "demo-scribble")
    ious = []
    for i in range(3):
        sample = free_sample(20_000_000 + i, 48)
        drawing = pen_drawing(sample)  # black pen on the white canvas, as an artist draws it
        unit = ControlUnit(image=drawing, model="demo-scribble", module="scribble_threshold", processor_res=384)
        prompt = shapes.partial_caption(sample.scene, frozenset({"colour", "background"}))
        out = run(members, samplers, replace(BASE, checkpoint="demo-shapes", prompt=prompt, seed=i,
                                             control_units=(unit,))).images[0]
        region, truth = read_picture(out).object_mask, np.asarray(sample.mask) >= 128
        ious.append((region & truth).sum() / max(1, (region | truth).sum()))
    assert np.mean(ious) >= 0.4, ious


def test_night_lora_and_its_baked_checkpoint_show_the_style(members, samplers):
    needs(MODELS / "Lora" / "demo-night.safetensors")
    prompt = "a large red circle on a blue background, in the center, night"

    def reading(checkpoint, text, seed):
        return read_picture(run(members, samplers, replace(BASE, checkpoint=checkpoint, seed=seed,
                                                          prompt=text)).images[0])

    on = [reading("demo-shapes", prompt + " <lora:demo-night:1>", s) for s in range(3)]
    off = [reading("demo-shapes", prompt + " <lora:demo-night:0>", s) for s in range(3)]
    assert sum(r.background == "black" for r in on) >= 2
    assert sum(r.background == "blue" for r in off) >= 2
    assert sum(r.colour == "red" for r in on) >= 2  # the style changes the ground, not the object
    needs(MODELS / "Stable-diffusion" / "demo-shapes-night")
    baked = [reading("demo-shapes-night", prompt, s) for s in range(3)]
    assert sum(r.background == "black" for r in baked) >= 2
