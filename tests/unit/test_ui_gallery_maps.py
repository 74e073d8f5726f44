"""The txt2img/img2img gallery shows a job's ControlNet maps after its pictures (as sd-webui-controlnet does),
captioned with their unit and preprocessor; the maps have no saved file."""

from __future__ import annotations

from PIL import Image

from modules.core.requests import GenerationRequest
from modules.core.results import DetectedMap, GenerationResult


def result(paths: list[str]) -> tuple[GenerationResult, Image.Image, Image.Image]:
    picture, canny = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "white")
    return GenerationResult(request=GenerationRequest(), images=[picture], seeds=[5], subseeds=[5],
                            infotexts=["a red circle\nSteps: 2"], paths=paths,
                            detected_maps=[DetectedMap(0, "canny", canny)]), picture, canny


def test_maps_follow_the_saved_pictures_in_the_gallery():
    from modules.ui.jobstream import gallery_items

    saved, _, canny = result(["/outputs/00001-5.png"])
    assert gallery_items(saved) == [("/outputs/00001-5.png", "seed 5"), (canny, "ControlNet 0: canny")]
    unsaved, picture, canny = result([])
    assert gallery_items(unsaved) == [picture, (canny, "ControlNet 0: canny")]
    unsaved.detected_maps.clear()
    assert gallery_items(unsaved) == [picture]
