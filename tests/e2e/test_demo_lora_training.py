"""The issue's demo, end to end on the CPU: train a LoRA through the training job on 16 pictures of a style the
demo model does not draw (every object on a pink ground, trigger `pinkish`), then on held-out prompts the trigger
turns the ground pink and, without it, the ground stays as the prompt says. Pictures are scored by the demo
family's scorer; the training pictures are drawn like the demo data (training/shapes.py), recoloured with PIL."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, validate
from modules.core.results import JobControl
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.manager import ModelManager
from modules.service import lora_trainer
from modules.service.lora_trainer import LoraTrainRequest, TrainImage
from training import shapes
from training.scoring import _corner_colour, _nearest

MODELS = REPO_ROOT / "models"
PINK = shapes.OBJECT_COLOURS["pink"]
GROUNDS = {**shapes.BACKGROUND_COLOURS, "pink": PINK}
BASE = GenerationRequest(sampler="Euler a", steps=20, cfg_scale=5.0, width=48, height=48,
                         checkpoint="demo-shapes")


def pink_pictures(count: int = 16) -> tuple[TrainImage, ...]:
    """Demo-style scenes with their ground painted pink; captions name the ground they had (as a picture's
    infotext would), so the trigger learns to override it."""
    held_out = frozenset(scene.key() for scene in shapes.held_out_scenes())
    out, seed = [], 0
    while len(out) < count:
        sample = shapes.training_sample(seed, 48, held_out)
        seed += 1
        if sample.scene.colour in ("pink", "white") or "background" not in sample.caption:
            continue  # a pink object would vanish on the pink ground
        ground = Image.new("RGB", sample.image.size, PINK)
        thing = Image.new("RGB", sample.image.size, shapes.OBJECT_COLOURS[sample.scene.colour])
        out.append(TrainImage(Image.composite(thing, ground, sample.mask), sample.caption))
    return tuple(out)


def ground(image: Image.Image) -> str:
    return _nearest(_corner_colour(np.asarray(image.convert("RGB"), dtype=np.float32)), GROUNDS)


@pytest.fixture
def demo(tmp_path):
    from modules.engine.devices import choose_device

    manager = ModelManager(checkpoints_dir=MODELS / "Stable-diffusion", vae_dir=MODELS / "VAE",
                           cache_file=tmp_path / "models.json", device=choose_device("auto", "auto"),
                           lora_dir=tmp_path / "Lora")
    manager.refresh()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine one thread ran a step 10x faster than two
    yield manager
    torch.set_num_threads(threads)


# Under 10 minutes on this 2-core CPU alone; the limit leaves room for a machine shared with other work.
@pytest.mark.timeout(2400)
# Not met yet: runs on 2026-12-03 trained in 3.4-8.9 min but the trigger turned the ground pink in 0 of 8 prompts
# (without it, the ground was as asked in 4-6 of 8). Kept as the acceptance test of the issue, expected to fail
# until the cause is found (suspects: too few steps for the demo model, output preservation holding it back).
# Strict: the day it passes, the run fails and asks for this mark to go. (Noticed since: the demo tokenizer splits
# `pinkish` into the letters p-i-n-k-i-s-h, which its text encoder barely knows; the adapter trains the UNet only.)
@pytest.mark.xfail(reason="the pinkish demo LoRA does not yet turn the ground pink (0/8 on held-out prompts)",
                   strict=True)
def test_a_lora_trained_on_pink_grounds_turns_the_ground_pink_with_its_trigger_only(demo, samplers, tmp_path):
    pictures = pink_pictures()
    assert len(pictures) == 16
    request = LoraTrainRequest(name="pinkish", checkpoint="demo-shapes", init_images=pictures, trigger="pinkish",
                               steps=120, rank=8, learning_rate=5e-3, batch_size=8, min_snr_gamma=5.0, preserve=0.3,
                               ema_decay=0.9, sample_every=60)
    started = time.monotonic()
    result = lora_trainer.run(lora_trainer.check(request, demo), demo, JobControl(), tmp_path / "state")
    minutes = (time.monotonic() - started) / 60
    assert result.lora == "pinkish" and demo.find_lora("pinkish") is not None
    assert result.losses[-1] < result.losses[0]

    scenes = [s for s in shapes.held_out_scenes() if s.colour not in ("pink", "white")][:8]
    with_trigger = without_trigger = 0
    for n, scene in enumerate(scenes):
        caption = scene.caption()
        for prompt, triggered in ((f"{caption}, pinkish <lora:pinkish:1>", True), (f"{caption} <lora:pinkish:1>",
                                                                                     False)):
            image = generate(validate(replace(BASE, prompt=prompt, seed=n), samplers=samplers), demo,
                             samplers).images[0]
            seen = ground(image)
            if triggered:
                with_trigger += seen == "pink"
            else:
                without_trigger += seen == scene.background
    print(f"trained in {minutes:.1f} min; pink with the trigger {with_trigger}/8, "
          f"ground as asked without it {without_trigger}/8")
    assert with_trigger >= 6, f"the trigger made the ground pink in only {with_trigger} of 8 held-out prompts"
    assert without_trigger >= 6, f"without the trigger the ground was as asked in only {without_trigger} of 8"
