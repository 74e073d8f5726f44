"""Regional prompting on the shipped demo model: a red circle asked for on the left and a blue one on the right
come out red on the left and blue on the right, seed after seed, where the same prompts without regions do not.
Two things made it pass (see modules/engine/region_windows.py and region_vae.py): each region is drawn in its own
window of the latent (with cross-attention blending alone the demo model drew one shape across both regions), and
the VAE decoder normalises and attends per region (decoded together, the red circle beside a blue one turned
purple)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modules.core.regions import Region
from modules.core.validation import validate
from modules.engine.generation import generate
from tests.e2e.test_demo_model import demo_manager, demo_request  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
RED = "a large red circle on a white background"
BLUE = "a large blue circle on a white background"
REGIONS = (Region(RED, 1.0, (0.0, 0.0, 0.5, 1.0)), Region(BLUE, 1.0, (0.5, 0.0, 1.0, 1.0)))
SEEDS = (0, 1, 2)


def hue_lean(half: np.ndarray) -> float | None:
    """Mean red minus blue over the half's coloured pixels (not the white background); None when it is blank."""
    rgb = half.reshape(-1, 3).astype(np.float32)
    coloured = rgb[np.abs(rgb - 255).max(axis=1) > 80]
    if len(coloured) < 0.04 * len(rgb):
        return None
    return float((coloured[:, 0] - coloured[:, 2]).mean())


def red_left_blue_right(image) -> bool:
    pixels = np.asarray(image.convert("RGB"))
    middle = pixels.shape[1] // 2
    left, right = hue_lean(pixels[:, :middle]), hue_lean(pixels[:, middle:])
    return left is not None and right is not None and left > 40 and right < -40


@pytest.mark.timeout(2400)  # six demo pictures, each region drawn in its own window: minutes on a busy CPU
def test_a_red_region_left_and_a_blue_region_right_draw_red_left_and_blue_right(demo_manager, samplers):  # noqa: F811
    made, plain = [], []
    for seed in SEEDS:
        request = validate(replace(demo_request("", seed), width=96, regions=REGIONS), samplers=samplers)
        result = generate(request, demo_manager, samplers)
        assert "Regions: " in result.infotexts[0]
        made.append(red_left_blue_right(result.images[0]))
        together = replace(request, regions=(), prompt=f"{RED}, on the left, {BLUE}, on the right")
        plain.append(red_left_blue_right(generate(together, demo_manager, samplers).images[0]))
    assert all(made), made
    assert not all(plain), "the prompt alone already does it: this test would not show the regions at work"
