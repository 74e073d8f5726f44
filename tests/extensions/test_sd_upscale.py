"""sd-upscale: A1111's SD upscale script. Tile geometry and seams, its options as A1111 clients send them, and
real runs on the tiny models (tiles redrawn, only the joined picture saved, A1111's infotext fields)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.results import JobControl
from modules.service.extensions import load_extensions
from modules.service.outputs import OutputStore
from modules.service.runner import Processor
from tests.extensions.conftest import SHIPPED, shipped_module

NAMES = ["None", "Lanczos", "Nearest", "4x-Tiny"]


@pytest.fixture
def tiles():
    return shipped_module("sd-upscale", "tiles")


@pytest.fixture
def script():
    return shipped_module("sd-upscale", "extension")


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_tiles_cover_the_picture_sharing_at_least_the_overlap(tiles):
    assert tiles.starts(64, 64, 16) == [0]
    assert tiles.starts(64, 24, 8) == [0, 13, 26, 40]  # spare room spread evenly, the last flush with the edge
    for size, tile, overlap in ((1000, 512, 64), (777, 128, 0), (96, 32, 31)):
        xs = tiles.starts(size, tile, overlap)
        assert xs[0] == 0 and xs[-1] == size - tile
        assert all(0 < b - a <= tile - overlap for a, b in zip(xs, xs[1:]))


@pytest.mark.parametrize("overlap", [0, 8, 13])
def test_split_then_join_gives_the_picture_back(tiles, overlap):
    picture = noise(70, 50)
    grid = tiles.plan(70, 50, 24, 16, overlap)
    assert np.array_equal(np.asarray(tiles.join(tiles.split(picture, grid), grid)), np.asarray(picture))


def test_seams_blend_two_tiles_linearly(tiles):
    grid = tiles.plan(48, 32, 32, 32, 16)
    black, white = Image.new("RGB", (32, 32), "black"), Image.new("RGB", (32, 32), "white")
    row = np.asarray(tiles.join([black, white], grid))[0, :, 0].astype(int)
    assert (row[:16] == 0).all() and (row[32:] == 255).all()
    assert (np.diff(row[16:32]) > 0).all()  # a ramp across the overlap, no step


def test_plan_refuses_impossible_tiles_with_the_fix(tiles):
    with pytest.raises(ValueError, match=r"smaller than one tile \(128x128\).*at most 96x64"):
        tiles.plan(100, 64, 128, 128, 16)
    with pytest.raises(ValueError, match="less than the tile's shorter side"):
        tiles.plan(100, 64, 32, 32, 32)


def test_options_as_a1111_clients_send_them(script):
    assert script.options_of({"overlap": "64", "upscaler_index": 1, "scale_factor": 2}, NAMES) == \
        script.Options(64, "Lanczos", 2.0)
    assert script.options_of({"upscaler_index": "4X-TINY"}, NAMES).upscaler == "4x-Tiny"
    assert script.options_of({}, NAMES) == script.Options(64, "None", 2.0)  # A1111's defaults
    with pytest.raises(ValueError, match="upscaler_index 9 is out of range.*0 None, 1 Lanczos"):
        script.options_of({"upscaler_index": 9}, NAMES)
    with pytest.raises(ValueError, match="unknown upscaler 'ESRGAN'"):
        script.options_of({"upscaler_index": "ESRGAN"}, NAMES)
    with pytest.raises(ValueError, match="overlap must be a whole number"):
        script.options_of({"overlap": 1.5}, NAMES)
    assert script.target_size(100, 60, script.Options(64, "Lanczos", 2.5)) == (248, 144)  # A1111: down to x8
    assert script.target_size(100, 60, script.Options(64, "None", 2.5)) == (100, 60)


@pytest.fixture
def processor(manager, samplers, tmp_path):
    return Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                     extensions=load_extensions(SHIPPED))


def upscale_request(picture: Image.Image, **fields) -> GenerationRequest:
    values = {"overlap": fields.pop("overlap", 8), "upscaler_index": "Lanczos", "scale_factor": 2}
    return GenerationRequest(**{"prompt": "a red circle", "mode": "img2img", "init_images": (picture,),
                                "width": 24, "height": 24, "steps": 2, "seed": 7, "sampler": "Euler",
                                "checkpoint": "tiny-a", "denoising_strength": 0.0, **fields,
                                "extra": {"script": "sd upscale", "sd-upscale": values}})


def saved(tmp_path) -> list:
    return sorted(p for p in (tmp_path / "outputs").rglob("*.png") if ".history" not in p.parts)


@pytest.mark.parametrize("picture", [Image.new("RGB", (32, 32), (200, 40, 90)), noise(32, 32, 3)],
                         ids=["flat", "noise"])
def test_strength_0_gives_the_upscaled_picture_unchanged_across_seams(processor, picture):
    result = processor.run(upscale_request(picture))
    out = np.asarray(result.images[0])
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out, np.asarray(picture.resize((64, 64), Image.Resampling.LANCZOS)))


def test_tiles_are_redrawn_and_only_the_joined_pictures_saved(processor, tmp_path, monkeypatch):
    parts = []
    run_one = processor._run_one

    def counting(request, control, user, save=True):
        if not save:
            parts.append((len(request.init_images), request.seed, request.width, request.height))
        return run_one(request, control, user, save=save)

    monkeypatch.setattr(processor, "_run_one", counting)
    picture = noise(32, 32, 5)
    # 64x64 in 32x32 tiles sharing 16 pixels: 3 x 3 tiles, drawn 4 at a time; two pictures (batch count).
    steps = []
    result = processor.run(upscale_request(picture, overlap=16, width=32, height=32, denoising_strength=0.6,
                                           batch_size=4, batch_count=2), JobControl(on_step=steps.append))
    # One progress bar for the whole job: six parts of one batch each, never going back.
    fractions = [info.fraction for info in steps]
    assert {info.batch_count for info in steps} == {6} and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert parts == [(4, 7, 32, 32), (4, 8, 32, 32), (1, 9, 32, 32), (4, 8, 32, 32), (4, 9, 32, 32), (1, 10, 32, 32)]
    assert [im.size for im in result.images] == [(64, 64), (64, 64)] and result.seeds == [7, 8]
    upscaled = np.asarray(picture.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(np.asarray(result.images[0], dtype=np.int16) - upscaled).mean() > 2  # redrawn
    params = parse_infotext(result.infotexts[0]).params
    assert params["SD upscale overlap"] == "16" and params["SD upscale upscaler"] == "Lanczos"
    assert params["Size"] == "32x32" and params["Seed"] == "7" and "Denoising strength" in params
    files = saved(tmp_path)
    assert len(files) == 2 and all(f.parent.parent.name == "img2img-images" for f in files)


def test_bad_requests_are_refused_before_queueing(processor):
    with pytest.raises(ValueError, match=r"smaller than one tile \(128x128\)"):
        processor.check(upscale_request(noise(32, 32), width=128, height=128))
    with pytest.raises(ValueError, match="works in img2img only, not in txt2img"):
        processor.check(GenerationRequest(prompt="x", width=16, height=16, checkpoint="tiny-a",
                                          extra={"script": "SD Upscale"}))
    masked = upscale_request(noise(32, 32))
    masked = SimpleNamespace(**{**masked.__dict__, "mode": "inpaint"})
    script = processor.extensions.script_named("sd upscale")
    with pytest.raises(ValueError, match="without a mask"):
        script.check(masked, processor._script_context(upscale_request(noise(32, 32)), None, None))
