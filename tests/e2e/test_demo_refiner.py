"""The refiner on the shipped demo models: demo-shapes makes the first 30% of the steps, demo-shapes-night (the
same style on a black ground) the rest, and the ground comes out darker than demo-shapes alone makes it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.core.settings import REPO_ROOT
from modules.engine.generation import generate
from modules.engine.models.manager import ModelManager

MODELS = REPO_ROOT / "models"
REQUEST = GenerationRequest(prompt="a large red circle on a blue background, in the center, night",
                            checkpoint="demo-shapes", sampler="Euler a", steps=20, cfg_scale=5.0, width=48, height=48)


def ground_brightness(image) -> float:
    """Mean brightness of a 6-pixel frame: the ground, since the object is large and in the center."""
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    frame = np.ones_like(pixels, dtype=bool)
    frame[6:-6, 6:-6] = False
    return float(pixels[frame].mean())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from modules.engine.devices import choose_device

    for name in ("demo-shapes", "demo-shapes-night"):
        if not (MODELS / "Stable-diffusion" / name).exists():
            pytest.skip(f"models/Stable-diffusion/{name} is not trained yet")
    # One model in RAM, as with --models-in-ram 1: the base and the refiner are loaded one after the other.
    manager = ModelManager(checkpoints_dir=MODELS / "Stable-diffusion", vae_dir=MODELS / "VAE",
                           cache_file=tmp_path_factory.mktemp("cache") / "models.json",
                           device=choose_device("auto", "auto"), models_in_ram=1)
    manager.refresh()
    return manager


@pytest.mark.parametrize("seed", [2, 3])
def test_a_night_refiner_darkens_the_ground(demo, samplers, seed):
    """The demo model settles the ground's colour in its first steps (on seed 2, switching after 2 of 20 steps
    still gives the night's black ground, after 4 a blue one): from 0.3 on the night refiner only darkens the
    blue a little; after the first step it turns the ground black, as demo-shapes-night alone does (~27)."""
    request = replace(REQUEST, seed=seed)

    def ground(**refiner) -> tuple[float, dict[str, str]]:
        result = generate(validate(replace(request, **refiner), samplers=samplers), demo, samplers)
        return ground_brightness(result.images[0]), parse_infotext(result.infotexts[0]).params

    plain, _ = ground()
    late, params = ground(refiner_checkpoint="demo-shapes-night", refiner_switch_at=0.3)
    assert params["Refiner"].startswith("demo-shapes-night [") and params["Refiner switch at"] == "0.3"
    assert late < plain - 1, (plain, late)  # measured 86.0 -> 83.9 on seed 2
    early, _ = ground(refiner_checkpoint="demo-shapes-night", refiner_switch_at=0.05)
    assert early < 50 < plain, (plain, early)  # measured 28.8 and 26.3 against a blue ground of ~86
