"""Detect and redraw inside a generation job, on tiny random checkpoints, with a detector that reports a fixed box
(a tiny model draws no faces): the region is redrawn, the rest of each picture is exactly the job's own."""

from __future__ import annotations

import numpy as np
import pytest

from modules.core.detailer import DetailerUnit
from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine.detailer import Detectors
from modules.engine.faces.detection import FaceBox
from modules.engine.generation import generate

BOX = FaceBox(left=16, top=16, width=16, height=16)
UNIT = DetailerUnit(prompt="a blue square", denoising_strength=0.8, dilate_erode=0, mask_blur=0,
                    use_inpaint_width_height=True, inpaint_width=32, inpaint_height=32)
BASE = GenerationRequest(prompt="a red circle", width=48, height=48, steps=3, seed=11, cfg_scale=5.0,
                         sampler="Euler a", checkpoint="tiny-a")


class FixedBox:
    """Stands in for the face detector: one box wherever it looks, and how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return [BOX]


def run(request, manager, samplers, detector=None):
    detectors = Detectors(None, faces=detector or FixedBox())
    return generate(validate(request, samplers=samplers), manager, samplers, detectors=detectors)


def outside(array: np.ndarray) -> np.ndarray:
    keep = np.ones(array.shape[:2], bool)
    keep[BOX.top:BOX.top + BOX.height, BOX.left:BOX.left + BOX.width] = False
    return array[keep]


def test_each_picture_of_a_batch_is_redrawn_in_its_box_only_and_the_next_batch_samples_as_without(manager, samplers):
    plain = run(GenerationRequest(**{**BASE.__dict__, "batch_count": 2}), manager, samplers)
    detector = FixedBox()
    detailed = run(GenerationRequest(**{**BASE.__dict__, "batch_count": 2, "detailer": (UNIT,)}), manager, samplers,
                   detector)
    assert detector.calls == 2
    for before, after in zip(plain.images, detailed.images):
        before, after = np.asarray(before, np.int16), np.asarray(after, np.int16)
        assert np.array_equal(outside(after), outside(before))  # also the second batch: the scheduler was put back
        assert not np.array_equal(after, before)
    assert parse_infotext(detailed.infotexts[1]).params["ADetailer prompt"] == "a blue square"


@pytest.mark.parametrize("sampler", ["Euler", "DPM++ 2M"])
def test_a_units_own_sampler_steps_and_cfg_change_the_region_only(manager, samplers, sampler):
    own = DetailerUnit(**{**UNIT.__dict__, "use_sampler": True, "sampler": sampler, "use_steps": True, "steps": 2,
                          "use_cfg_scale": True, "cfg_scale": 2.0})
    first = run(GenerationRequest(**{**BASE.__dict__, "detailer": (UNIT,)}), manager, samplers)
    second = run(GenerationRequest(**{**BASE.__dict__, "detailer": (own,)}), manager, samplers)
    a, b = np.asarray(first.images[0], np.int16), np.asarray(second.images[0], np.int16)
    assert np.array_equal(outside(a), outside(b)) and not np.array_equal(a, b)
    params = parse_infotext(second.infotexts[0]).params
    assert params["ADetailer sampler"] == sampler and params["ADetailer steps"] == "2"


def test_the_redraw_reproduces_from_the_pictures_seed(manager, samplers):
    one = run(GenerationRequest(**{**BASE.__dict__, "detailer": (UNIT,)}), manager, samplers)
    again = run(GenerationRequest(**{**BASE.__dict__, "detailer": (UNIT,)}), manager, samplers)
    assert np.array_equal(np.asarray(one.images[0]), np.asarray(again.images[0]))
    other = run(GenerationRequest(**{**BASE.__dict__, "seed": 12, "detailer": (UNIT,)}), manager, samplers)
    assert not np.array_equal(np.asarray(one.images[0]), np.asarray(other.images[0]))
