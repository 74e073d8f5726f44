"""Detect and redraw on a real face photograph (scikit-image's astronaut) with the demo inpainting checkpoint: the
built-in detector finds her face, the region is redrawn, and nothing outside it changes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.core.detailer import DetailerUnit
from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine.detailer import Detectors
from modules.engine.generation import generate
from tests.e2e.test_demo_model import demo_manager  # noqa: F401  (the module-scoped fixture)
from tests.fixtures.faces import astronaut

SIZE = 256
UNIT = DetailerUnit(prompt="a red circle", denoising_strength=0.9, dilate_erode=4, mask_blur=4,
                    use_inpaint_width_height=True, inpaint_width=64, inpaint_height=64, use_steps=True, steps=4)


def photo() -> Image.Image:
    return astronaut().resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def detailed(manager, samplers, seed: int, unit: DetailerUnit = UNIT):
    # img2img at denoising 0 (ADetailer's "skip img2img"): the picture is the photo itself, then redrawn
    request = GenerationRequest(mode="img2img", checkpoint="demo-shapes-inpainting", init_images=(photo(),),
                                denoising_strength=0.0, width=SIZE, height=SIZE, seed=seed, steps=4,
                                prompt="a portrait", detailer=(unit,))
    return generate(validate(request, samplers=samplers), manager, samplers)


@pytest.fixture(scope="module")
def face_box() -> tuple[int, int, int, int]:
    (found,) = Detectors(None).detect("face_lbp", photo())
    return found.box


def test_the_face_is_redrawn_and_every_pixel_outside_its_feathered_box_is_unchanged(demo_manager, samplers,
                                                                                    face_box):
    result = detailed(demo_manager, samplers, seed=3)
    before = np.asarray(photo(), dtype=np.int16)
    after = np.asarray(result.images[0].convert("RGB"), dtype=np.int16)
    left, top, right, bottom = face_box
    margin = UNIT.dilate_erode // 2 + 3 * UNIT.mask_blur  # the grown box, and the feather's reach around it
    outside = np.ones((SIZE, SIZE), bool)
    outside[max(0, top - margin):bottom + margin, max(0, left - margin):right + margin] = False
    assert np.array_equal(after[outside], before[outside])
    inside = np.abs(after - before)[top:bottom, left:right].sum(axis=2)
    assert (inside > 30).mean() > 0.5  # most of the face was redrawn
    params = parse_infotext(result.infotexts[0]).params
    assert params["ADetailer model"] == "face_lbp" and params["ADetailer prompt"] == "a red circle"
    assert params["ADetailer denoising strength"] == "0.9" and "ADetailer version" in params


def test_the_redraw_reproduces_from_the_seed_and_differs_with_another(demo_manager, samplers):
    first = np.asarray(detailed(demo_manager, samplers, seed=5).images[0])
    again = np.asarray(detailed(demo_manager, samplers, seed=5).images[0])
    other = np.asarray(detailed(demo_manager, samplers, seed=6).images[0])
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_a_picture_without_a_face_is_kept_with_a_note(demo_manager, samplers):
    request = GenerationRequest(mode="img2img", checkpoint="demo-shapes-inpainting",
                                init_images=(Image.new("RGB", (64, 64), (0, 0, 200)),), denoising_strength=0.0,
                                width=64, height=64, seed=1, steps=2, detailer=(UNIT,))
    result = generate(validate(request, samplers=samplers), demo_manager, samplers)
    assert np.array_equal(np.asarray(result.images[0]), np.full((64, 64, 3), (0, 0, 200), np.uint8))
    assert any("ADetailer unit 1 (face_lbp): nothing was found in the picture" in w for w in result.warnings)
