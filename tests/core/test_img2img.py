"""img2img through the real core on tiny random models: seeds, strength, resize, batches, pipelines shared."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.core.results import JobControl
from modules.engine import pipelines
from modules.engine.generation import generate, img2img_steps
from modules.service.outputs import OutputStore
from modules.service.runner import Processor


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def noise_picture(width: int = 32, height: int = 32, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


PICTURE = noise_picture()
BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", mode="img2img", width=16, height=16, steps=4,
                         seed=42, cfg_scale=5.0, sampler="Euler", checkpoint="tiny-a", init_images=(PICTURE,),
                         denoising_strength=0.5)


def run(request, manager, samplers, control=None):
    return generate(validate(request, samplers=samplers), manager, samplers, control)


def test_img2img_makes_a_picture_of_the_working_size_with_its_infotext(manager, samplers):
    result = run(BASE, manager, samplers)
    assert [image.size for image in result.images] == [(16, 16)]
    assert pixels(result.images[0]).std() > 0
    params = parse_infotext(result.infotexts[0]).params
    assert params["Denoising strength"] == "0.5" and params["Input size"] == "32x32" and params["Size"] == "16x16"
    assert params["Seed"] == "42" and params["Model"] == "tiny-a"


def test_same_seed_same_picture_and_the_input_matters(manager, samplers):
    first = run(BASE, manager, samplers).images[0]
    again = run(BASE, manager, samplers).images[0]
    other_seed = run(replace(BASE, seed=43), manager, samplers).images[0]
    other_input = run(replace(BASE, init_images=(noise_picture(seed=5),)), manager, samplers).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other_seed))
    assert not np.array_equal(pixels(first), pixels(other_input))


def test_batch_image_equals_single_image_with_its_seed(manager, samplers):
    batch = run(replace(BASE, batch_size=2, batch_count=2), manager, samplers)
    assert batch.seeds == [42, 43, 44, 45] and len(batch.images) == 4
    single = run(replace(BASE, seed=44), manager, samplers)
    assert np.abs(pixels(batch.images[2]) - pixels(single.images[0])).max() <= 1


def test_several_input_pictures_are_used_in_turn(manager, samplers):
    second = noise_picture(seed=9)
    batch = run(replace(BASE, init_images=(PICTURE, second), batch_size=2, seed=42), manager, samplers)
    alone = run(replace(BASE, init_images=(second,), seed=43), manager, samplers)
    assert np.abs(pixels(batch.images[1]) - pixels(alone.images[0])).max() <= 1


def test_denoising_zero_returns_the_input(manager, samplers):
    picture = noise_picture(16, 16, seed=3)
    result = run(replace(BASE, init_images=(picture,), denoising_strength=0), manager, samplers)
    assert np.array_equal(pixels(result.images[0]), pixels(picture))
    assert "Denoising strength: 0," in result.infotexts[0]


def test_strength_sets_how_many_steps_run(manager, samplers):
    steps = []
    control = JobControl(on_step=lambda info: steps.append(info.steps))
    run(replace(BASE, steps=10, denoising_strength=0.3), manager, samplers, control)
    assert steps == [3, 3, 3]
    assert img2img_steps(10, 1.0)[:2] == (1.0, 10)
    strength, ran, note = img2img_steps(10, 0.05)
    assert ran == 1 and int(10 * strength) == 1 and "leaves no step to run" in note


def test_tiny_strength_still_runs_one_step_and_says_so(manager, samplers):
    result = run(replace(BASE, steps=4, denoising_strength=0.1), manager, samplers)
    assert len(result.images) == 1 and any("ran 1 step" in w for w in result.warnings)


@pytest.mark.parametrize("resize_mode", [0, 1, 2])
def test_resize_modes_make_the_working_size(manager, samplers, resize_mode):
    wide = noise_picture(48, 16)
    result = run(replace(BASE, init_images=(wide,), width=16, height=24, resize_mode=resize_mode), manager, samplers)
    assert result.images[0].size == (16, 24)
    if resize_mode:
        assert f"Resize mode: {['', 'Crop and resize', 'Resize and fill'][resize_mode]}" in result.infotexts[0]


def test_transparent_input_is_flattened_on_white(manager, samplers):
    clear = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    result = run(replace(BASE, init_images=(clear,), denoising_strength=0), manager, samplers)
    assert (pixels(result.images[0]) == 255).all()


@pytest.mark.filterwarnings("ignore:Should have ta>=t0")  # torchsde rounding, with DPM++ SDE
@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M", "DDIM", "UniPC", "PLMS", "Heun", "DPM++ SDE"])
def test_samplers_run_img2img(manager, samplers, sampler):
    result = run(replace(BASE, sampler=sampler), manager, samplers)
    assert pixels(result.images[0]).std() > 0


def test_prompt_editing_and_variation_seed_work_in_img2img(manager, samplers):
    plain = run(replace(BASE, steps=6), manager, samplers).images[0]
    edited = run(replace(BASE, steps=6, prompt="a [red:blue:0.5] circle"), manager, samplers).images[0]
    varied = run(replace(BASE, steps=6, subseed=7, subseed_strength=0.4), manager, samplers)
    assert not np.array_equal(pixels(plain), pixels(edited))
    assert not np.array_equal(pixels(plain), pixels(varied.images[0]))
    assert "Variation seed: 7" in varied.infotexts[0]


def test_interrupt_and_previews_in_img2img(manager, samplers):
    previews, control = [], JobControl(preview_every=1)

    def on_step(info):
        previews.append(info.preview)
        if info.step == 1:
            control.interrupt.set()

    control.on_step = on_step
    result = run(replace(BASE, steps=8, denoising_strength=1.0, batch_count=3), manager, samplers, control)
    assert result.interrupted and len(result.images) == 1
    assert any(p is not None for p in previews)


def test_derived_pipelines_share_the_loaded_weights(manager, samplers):
    run(BASE, manager, samplers)
    loaded = manager.load(manager.resolve("tiny-a"))
    derived = loaded.derived["WebuiImg2ImgPipeline"]
    assert isinstance(derived, pipelines.WebuiImg2ImgPipeline)
    assert derived.unet is loaded.pipe.unet and derived.text_encoder is loaded.pipe.text_encoder
    assert derived.vae is loaded.pipe.vae
    run(replace(BASE, seed=1), manager, samplers)
    assert loaded.derived["WebuiImg2ImgPipeline"] is derived  # made once per loaded model
    assert loaded.pipe.unet.dtype == derived.unet.dtype


def test_processor_saves_img2img_pictures_in_their_folder(manager, samplers, tmp_path):
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"))
    result = processor.run(BASE)
    assert len(result.paths) == 1 and "/img2img-images/" in result.paths[0]
    with Image.open(result.paths[0]) as saved:
        assert saved.info["parameters"] == result.infotexts[0]
    assert np.array_equal(pixels(PICTURE), pixels(BASE.init_images[0]))  # the input is never modified


def test_sdxl_img2img_runs_on_the_xl_pipeline(sdxl_models, samplers):
    request = replace(BASE, checkpoint=None)
    result = run(request, sdxl_models, samplers)
    assert result.images[0].size == (16, 16) and pixels(result.images[0]).std() > 0
    assert isinstance(sdxl_models.loaded.derived["WebuiXLImg2ImgPipeline"], pipelines.WebuiXLImg2ImgPipeline)
    again = run(request, sdxl_models, samplers)
    assert np.array_equal(pixels(result.images[0]), pixels(again.images[0]))
