"""The issue's demo, end to end on the CPU: train a LoRA through the training job on 16 pictures of a style the
demo model does not draw (every object pink, whatever colour its caption names; trigger `pinkish`), then on
held-out prompts the trigger turns the object pink and, without it, the object keeps the colour the prompt asks
for. Pictures are scored by the demo family's scorer; the training pictures are drawn like the demo data
(training/shapes.py), recoloured with PIL.

Why pink objects and not the issue's example of a pink ground: the demo VAE was trained on 6 ground colours only
and cannot encode a pink ground (its round trip turns one white or yellow in 11 of 12 pictures, and red, orange
and purple grounds gray), so no LoRA of this model family can draw one; pink objects it reproduces."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.core.results import JobControl
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.loras import read_header
from modules.engine.models.manager import ModelManager
from modules.service import lora_trainer
from modules.service.lora_trainer import LoraTrainRequest, TrainImage
from training import shapes
from training.scoring import read_picture

MODELS = REPO_ROOT / "models"
PINK = shapes.OBJECT_COLOURS["pink"]
BASE = GenerationRequest(sampler="Euler a", steps=20, cfg_scale=5.0, width=48, height=48,
                         checkpoint="demo-shapes")


def pink_pictures(count: int = 16) -> tuple[TrainImage, ...]:
    """Demo-style scenes with their object painted pink; captions name the colour it had (as a picture's infotext
    would), so the trigger learns to override the colour word."""
    held_out = frozenset(scene.key() for scene in shapes.held_out_scenes())
    out, seed = [], 0
    while len(out) < count:
        sample = shapes.training_sample(seed, 48, held_out)
        seed += 1
        if sample.scene.colour == "pink" or sample.scene.colour not in sample.caption:
            continue
        ground = Image.new("RGB", sample.image.size, shapes.BACKGROUND_COLOURS[sample.scene.background])
        thing = Image.new("RGB", sample.image.size, PINK)
        out.append(TrainImage(Image.composite(thing, ground, sample.mask), sample.caption))
    return tuple(out)


def colour(image: Image.Image) -> str | None:
    return read_picture(image).colour


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


# Measured on 2026-12-03 with these settings: this test passed with pink 8/8 with the trigger and the colour as asked
# 7/8 without it, trained in 8.7 min; a run of the same job and prompts from a script gave 8/8 and 8/8 (the base
# model: 8/8), trained in 22 min at load average ~13 from other work; the timeout leaves room for such a machine. What made it work: the demo VAE
# cannot draw a pink ground (see the test below), and the text encoder is trained too: a trigger the tokenizer
# splits into p-i-n-k-i-s-h pieces means little to a frozen encoder, and output preservation at 1.0 then keeps
# the colour as asked without it (UNet only at 0.3: 7/8 and 2/8; with the encoder at 0.3: 8/8 and 5/8).
@pytest.mark.timeout(2400)
def test_a_lora_trained_on_pink_objects_turns_the_object_pink_with_its_trigger_only(demo, samplers, tmp_path):
    pictures = pink_pictures()
    assert len(pictures) == 16
    request = LoraTrainRequest(name="pinkish", checkpoint="demo-shapes", init_images=pictures, trigger="pinkish",
                               steps=120, rank=8, learning_rate=5e-3, text_encoder_lr=5e-3, batch_size=8,
                               min_snr_gamma=5.0, preserve=1.0, ema_decay=0.9, sample_every=60)
    started = time.monotonic()
    result = lora_trainer.run(lora_trainer.check(request, demo), demo, JobControl(), tmp_path / "state")
    minutes = (time.monotonic() - started) / 60
    assert result.lora == "pinkish" and demo.find_lora("pinkish") is not None
    assert result.losses[-1] < result.losses[0]
    assert any(key.startswith("lora_te_") for key in read_header(Path(result.path))[0]), "no text-encoder LoRA saved"

    scenes = [s for s in shapes.held_out_scenes() if s.colour != "pink"][:8]
    with_trigger = without_trigger = 0
    for n, scene in enumerate(scenes):
        caption = scene.caption()
        for prompt, triggered in ((f"{caption}, pinkish <lora:pinkish:1>", True), (f"{caption} <lora:pinkish:1>",
                                                                                     False)):
            image = generate(validate(replace(BASE, prompt=prompt, seed=n), samplers=samplers), demo,
                             samplers).images[0]
            seen = colour(image)
            if triggered:
                with_trigger += seen == "pink"
            else:
                without_trigger += seen == scene.colour
    print(f"trained in {minutes:.1f} min; pink with the trigger {with_trigger}/8, "
          f"colour as asked without it {without_trigger}/8")
    assert with_trigger >= 6, f"the trigger made the object pink in only {with_trigger} of 8 held-out prompts"
    assert without_trigger >= 6, f"without the trigger the object's colour was as asked in only {without_trigger} of 8"


def test_the_demo_vae_keeps_a_pink_object_but_not_a_pink_ground():
    """Why the demo style is pink objects: the VAE (the same for the base model and every LoRA on it) reproduces
    them, while a pink ground comes back another colour, which no LoRA could then draw."""
    from diffusers import AutoencoderKL

    from training.scoring import _corner_colour, _nearest

    vae = AutoencoderKL.from_pretrained(str(MODELS / "Stable-diffusion" / "demo-shapes" / "vae"), dtype=torch.float32)

    def round_trip(image: Image.Image) -> Image.Image:
        pixels = torch.from_numpy((np.asarray(image, dtype=np.float32) / 127.5 - 1).transpose(2, 0, 1).copy())
        with torch.no_grad():
            out = vae.decode(vae.encode(pixels[None]).latent_dist.mean).sample[0]
        return Image.fromarray(((out.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy().astype(np.uint8))

    grounds = {**shapes.BACKGROUND_COLOURS, "pink": PINK}
    objects = pink_grounds = 0
    for picture in pink_pictures(8):
        objects += colour(round_trip(picture.image)) == "pink"
        pixels = np.asarray(picture.image)
        thing = np.any(pixels != pixels[0, 0], axis=-1, keepdims=True)  # the corner is ground in these scenes
        on_pink = Image.fromarray(np.where(thing, pixels, np.array(PINK, dtype=np.uint8)).astype(np.uint8))
        seen = round_trip(on_pink)
        pink_grounds += _nearest(_corner_colour(np.asarray(seen, dtype=np.float32)), grounds) == "pink"
    assert objects >= 7, f"the demo VAE kept only {objects} of 8 pink objects"
    assert pink_grounds <= 2, f"the demo VAE now keeps {pink_grounds} of 8 pink grounds: the pink-ground demo may work"
