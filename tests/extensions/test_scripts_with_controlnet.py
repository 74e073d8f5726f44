"""Scripts and ControlNet units together: SD upscale steers each tile with a unit that has no picture of its
own (the tile is its input) and, as sd-webui-controlnet, returns no maps; an X/Y/Z plot returns none either
(a cell's maps are not the plot's)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.core.requests import ControlUnit, GenerationRequest
from modules.service.extensions import load_extensions
from modules.service.outputs import OutputStore
from modules.service.runner import Processor
from tests.extensions.conftest import SHIPPED


@pytest.fixture
def processor(cn_models_dir, cpu_fp32, samplers, tmp_path):
    from modules.engine.models.manager import ModelManager

    models = ModelManager(checkpoints_dir=cn_models_dir / "Stable-diffusion", vae_dir=cn_models_dir / "VAE",
                          cache_file=tmp_path / "c.json", device=cpu_fp32, controlnet_dir=cn_models_dir / "ControlNet")
    models.refresh()
    return Processor(models=models, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                     extensions=load_extensions(SHIPPED))


def picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_sd_upscale_steers_each_tile_with_a_unit_using_the_tile(processor, monkeypatch):
    tiles_seen = []
    run_one = processor._run_one

    def spy(request, control, user, save=True):
        if not save:
            tiles_seen.append([u.image for u in request.control_units])
        return run_one(request, control, user, save=save)

    monkeypatch.setattr(processor, "_run_one", spy)
    unit = ControlUnit(module="invert", model="tiny-cn", weight=2.0)
    request = GenerationRequest(prompt="a red circle", mode="img2img", init_images=(picture(),), width=32, height=32,
                                steps=2, seed=4, sampler="Euler", checkpoint="tiny-a", denoising_strength=0.7,
                                extra={"script": "sd-upscale", "sd-upscale": {"overlap": 16, "upscaler_index": 1,
                                                                              "scale_factor": 2}})
    steered = processor.run(request.__class__(**{**request.__dict__, "control_units": (unit,)}))
    plain = processor.run(request)
    assert len(tiles_seen) == 9 * 2 and tiles_seen[0] == [None]  # the tile itself is the unit's input
    assert steered.images[0].size == (64, 64) and steered.detected_maps == []
    assert 'ControlNet 0: "Module: invert' in steered.infotexts[0]
    diff = np.abs(np.asarray(steered.images[0], dtype=np.int16) - np.asarray(plain.images[0], dtype=np.int16))
    assert diff.mean() > 0.5


def test_an_xyz_plot_returns_no_controlnet_maps(processor):
    unit = ControlUnit(module="invert", model="tiny-cn", image=picture())
    request = GenerationRequest(prompt="a red circle", width=16, height=16, steps=1, seed=5, sampler="Euler",
                                checkpoint="tiny-a", control_units=(unit,),
                                extra={"script": "xyz-grid", "xyz-grid": {"x_type": "Steps", "x_values": "1, 2"}})
    result = processor.run(request)
    assert len(result.images) == 3 and result.detected_maps == []
    single = processor.run(GenerationRequest(**{**request.__dict__, "extra": {}}))
    assert len(single.detected_maps) == 1  # the same unit in an ordinary run does return its map
