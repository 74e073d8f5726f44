"""ControlNet units on Flux and SD 3.x: diffusers-format ControlNets listed with their family, run through diffusers'
ControlNet pipelines exactly as the bare pipeline runs them, and what cannot apply refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import ControlUnit, GenerationRequest, RequestError
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_flow_families as tiny
from tests.fixtures.tiny_flow import FLUX_FIXTURE, save_tiny_flux, save_tiny_sd3

# A map with a bright square on black: what a Canny or depth unit would hand the ControlNet.
MAP = Image.new("RGB", (32, 32), (0, 0, 0))
MAP.paste((255, 255, 255), (8, 8, 24, 24))


def _randomised(model, seed: int):
    """diffusers starts a ControlNet's output projections at zero (it would not steer): give them weights."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "controlnet_" in name or "pos_embed_input" in name:
                param.normal_(0.0, 0.3)
    return model


def _flux_controlnet(folder: Path, out: Path, union: bool = False) -> None:
    from diffusers import FluxControlNetModel, FluxTransformer2DModel

    transformer = FluxTransformer2DModel.from_pretrained(str(folder / "transformer"))
    net = FluxControlNetModel.from_transformer(transformer, num_layers=1, num_single_layers=1,
                                               attention_head_dim=FLUX_FIXTURE.head_dim,
                                               num_attention_heads=FLUX_FIXTURE.heads)
    if union:
        net.register_to_config(num_mode=7)
        net.controlnet_mode_embedder = torch.nn.Embedding(7, net.inner_dim)
    _randomised(net, 3).save_pretrained(str(out))


def _sd3_controlnet(folder: Path, out: Path) -> None:
    from diffusers import SD3ControlNetModel, SD3Transformer2DModel

    transformer = SD3Transformer2DModel.from_pretrained(str(folder / "transformer"))
    # Its one block is the last (context-pre-only) block of the tiny transformer: no weights to copy from it.
    net = SD3ControlNetModel.from_transformer(transformer, num_layers=1, num_extra_conditioning_channels=0,
                                              load_weights_from_transformer=False)
    _randomised(net, 4).save_pretrained(str(out))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("flow-control")
    checkpoints = root / "Stable-diffusion"
    save_tiny_flux(checkpoints / "tiny-flux", seed=1)
    save_tiny_sd3(checkpoints / "tiny-sd3")
    tiny.save_tiny_chroma(checkpoints / "tiny-chroma")
    # Flux.1 Canny/Depth dev's layout: the control picture's packed latents double the transformer's input.
    tiny._flux_variant(checkpoints / "tiny-flux-canny-dev", 2, "FluxControlPipeline", FLUX_FIXTURE.latent_channels * 8,
                       guidance=True)
    _flux_controlnet(checkpoints / "tiny-flux", root / "ControlNet" / "flux-canny")
    _flux_controlnet(checkpoints / "tiny-flux", root / "ControlNet" / "flux-union", union=True)
    _sd3_controlnet(checkpoints / "tiny-sd3", root / "ControlNet" / "sd3-canny")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def manager(models_dir, cpu_fp32, tmp_path):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=models_dir / "Stable-diffusion", vae_dir=models_dir / "VAE",
                           cache_file=tmp_path / "cache.json", device=cpu_fp32, models_in_ram=2,
                           controlnet_dir=models_dir / "ControlNet")
    manager.refresh()
    return manager


def _request(checkpoint: str, model: str = "flux-canny", **fields) -> GenerationRequest:
    unit = ControlUnit(image=MAP, module="none", model=model, weight=0.8, guidance_end=0.7, resize_mode=0)
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=7,
                             control_units=(unit,))
    return replace(base, **fields)


def _bare(models_dir: Path, checkpoint: str, cls_name: str, net_cls: str, net: str, **kwargs) -> Image.Image:
    import diffusers

    controlnet = getattr(diffusers, net_cls).from_pretrained(str(models_dir / "ControlNet" / net))
    pipe = getattr(diffusers, cls_name).from_pretrained(str(models_dir / "Stable-diffusion" / checkpoint),
                                                        controlnet=controlnet, dtype=torch.float32,
                                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    if cls_name.startswith("Flux"):
        # Our first noise comes from the seed alone (as without a unit); the bare pipeline would draw it after
        # sampling the control picture's latents from the same generator, so it is handed the seed's noise.
        channels = pipe.transformer.config.in_channels // 4
        kwargs["latents"] = pipe.prepare_latents(1, channels, 32, 32, torch.float32, torch.device("cpu"),
                                                 torch.Generator().manual_seed(7))[0]
    return pipe(prompt=_request(checkpoint).prompt, control_image=MAP, controlnet_conditioning_scale=0.8,
                control_guidance_end=0.7, height=32, width=32, num_inference_steps=3,
                generator=torch.Generator().manual_seed(7), **kwargs).images[0]


def test_flow_controlnet_folders_are_listed_with_their_family(manager):
    found = {info.name: info for info in manager.controlnets}
    assert found["flux-canny"].family == "flux" and found["flux-canny"].error is None
    assert found["sd3-canny"].family == "sd3" and found["sd3-canny"].error is None


def test_a_flux_unit_is_the_bare_flux_controlnet_pipeline_and_steers_the_picture(manager, models_dir):
    result = generate(_request("tiny-flux"), manager, SamplerRegistry.default())
    bare = _bare(models_dir, "tiny-flux", "FluxControlNetPipeline", "FluxControlNetModel", "flux-canny",
                 guidance_scale=3.5)
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
    plain = generate(_request("tiny-flux", control_units=()), manager, SamplerRegistry.default())
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(plain.images[0]))
    assert 'ControlNet 0: "Module: none, Model: flux-canny, Weight: 0.8' in result.infotexts[0]
    assert [(m.unit, m.module) for m in result.detected_maps] == [(0, "none")]
    assert np.array_equal(np.asarray(result.detected_maps[0].image), np.asarray(MAP))


def test_an_sd3_unit_is_the_bare_sd3_controlnet_pipeline(manager, models_dir):
    result = generate(_request("tiny-sd3", model="sd3-canny"), manager, SamplerRegistry.default())
    bare = _bare(models_dir, "tiny-sd3", "StableDiffusion3ControlNetPipeline", "SD3ControlNetModel", "sd3-canny",
                 guidance_scale=1.0, negative_prompt="")
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))


def test_a_flux_unit_in_img2img_is_the_bare_flux_controlnet_img2img_pipeline(manager, models_dir):
    import diffusers

    red = Image.new("RGB", (32, 32), (200, 30, 30))
    result = generate(_request("tiny-flux", mode="img2img", init_images=(red,), denoising_strength=0.6),
                      manager, SamplerRegistry.default())
    controlnet = diffusers.FluxControlNetModel.from_pretrained(str(models_dir / "ControlNet" / "flux-canny"))
    pipe = diffusers.FluxControlNetImg2ImgPipeline.from_pretrained(
        str(models_dir / "Stable-diffusion" / "tiny-flux"), controlnet=controlnet, dtype=torch.float32,
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(prompt=_request("tiny-flux").prompt, image=red, control_image=MAP, strength=0.6,
                controlnet_conditioning_scale=0.8, control_guidance_end=0.7, guidance_scale=3.5, height=32, width=32,
                num_inference_steps=3, generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))


def test_a_union_controlnet_takes_its_mode_from_the_preprocessor(manager, models_dir):
    canny = replace(_request("tiny-flux").control_units[0], model="flux-union", module="canny", threshold_a=100,
                    threshold_b=200)
    result = generate(_request("tiny-flux", control_units=(canny,)), manager, SamplerRegistry.default())
    assert result.images[0].size == (32, 32)
    depth_like = replace(canny, module="none")
    with pytest.raises(RequestError, match="union model"):
        generate(_request("tiny-flux", control_units=(depth_like,)), manager, SamplerRegistry.default())


def test_two_units_run_together_and_differ_from_one(manager):
    unit = _request("tiny-flux").control_units[0]
    other = replace(unit, image=Image.eval(MAP, lambda v: 255 - v), weight=1.0)
    one = generate(_request("tiny-flux"), manager, SamplerRegistry.default()).images[0]
    two = generate(_request("tiny-flux", control_units=(unit, other)), manager, SamplerRegistry.default())
    assert not np.array_equal(np.asarray(one), np.asarray(two.images[0]))
    assert "ControlNet 1:" in two.infotexts[0]


def test_a_unit_of_another_family_is_refused_by_the_manager_with_the_reason(manager):
    from modules.engine.models.controlnets import ControlNetError

    with pytest.raises(ControlNetError, match="is for SD 3.x models"):
        manager.usable_controlnet("sd3-canny", manager.resolve("tiny-flux"))


@pytest.mark.parametrize("name, fields, reason", [
    ("tiny-chroma", {}, "ControlNets run on Flux.1"),
    ("tiny-flux", {"mode": "inpaint", "init_images": (MAP,), "mask": MAP.convert("L")}, "txt2img and img2img only"),
    ("tiny-sd3", {"mode": "img2img", "init_images": (MAP,)}, "in txt2img only"),
    ("tiny-flux", {"mode": "img2img", "init_images": (MAP,), "cfg_scale": 2.0, "negative_prompt": "blue"},
     "no unguided pass"),
    ("tiny-sd3", {"enable_hr": True, "hr_upscaler": "Lanczos"},
     "cannot act in the hires fix's second pass: diffusers has no ControlNet img2img pipeline"),
    ("tiny-flux", {"enable_hr": True, "hr_upscaler": "Latent"}, "takes pictures, not latents"),
    ("tiny-flux", {"enable_hr": True, "hr_upscaler": "Lanczos", "hr_cfg": 2.0}, "second pass .* no unguided pass"),
    ("tiny-flux", {"control_units": (ControlUnit(image=MAP, model="flux-canny", control_mode=2),)},
     "control mode 'ControlNet is more important' is not available"),
    ("tiny-flux", {"control_units": (ControlUnit(image=MAP, module="ip-adapter_clip_h", model="x"),)},
     "IP-Adapter units are not available"),
])
def test_units_a_flow_checkpoint_cannot_take_are_refused_before_queueing(manager, name, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve(name)
    with pytest.raises(RequestError, match=reason):
        check(_request(name, **fields), info.family, info.family_label, info.name)


def _canny_dev(**fields) -> GenerationRequest:
    unit = ControlUnit(image=MAP, module="none", model="None", resize_mode=0)
    return _request("tiny-flux-canny-dev", **{"control_units": (unit,), "distilled_cfg_scale": 30.0, **fields})


def test_a_flux_control_checkpoint_is_listed_as_usable_with_its_family(manager):
    info = manager.resolve("tiny-flux-canny-dev")
    assert info.usable and info.family == "flux-control" and "Canny/Depth" in info.family_label


def test_a_flux_control_checkpoint_draws_from_its_units_picture_like_the_bare_control_pipeline(manager, models_dir):
    import diffusers

    result = generate(_canny_dev(), manager, SamplerRegistry.default())
    pipe = diffusers.FluxControlPipeline.from_pretrained(str(models_dir / "Stable-diffusion" / "tiny-flux-canny-dev"),
                                                         dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    bare = pipe(prompt=_canny_dev().prompt, control_image=MAP, guidance_scale=30.0, height=32, width=32,
                num_inference_steps=3, generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
    other = generate(_canny_dev(control_units=(replace(_canny_dev().control_units[0],
                                                       image=Image.eval(MAP, lambda v: 255 - v)),)),
                     manager, SamplerRegistry.default())
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(other.images[0]))  # the picture steers it
    assert "Control picture:" in result.infotexts[0] and "Distilled CFG Scale: 30" in result.infotexts[0]
    assert len(result.detected_maps) == 1 and result.detected_maps[0].image.size == (32, 32)


def test_flux_control_checkpoint_img2img_uses_the_input_picture_as_its_control_picture_when_the_unit_has_none(manager):
    unit = ControlUnit(image=None, module="none", model="None", resize_mode=0)
    result = generate(_canny_dev(mode="img2img", init_images=(MAP,), denoising_strength=0.6, control_units=(unit,)),
                      manager, SamplerRegistry.default())
    assert result.images[0].size == (32, 32)


@pytest.mark.parametrize("fields, reason", [
    ({"control_units": ()}, "enable exactly one ControlNet unit"),
    ({"control_units": (ControlUnit(image=MAP, model="flux-canny"),)}, "set the unit's Model to None"),
    ({"control_units": (ControlUnit(image=MAP, model="None", weight=0.5),)}, "weight, guidance start/end"),
    ({"cfg_scale": 3.0}, "no unguided pass"),
    ({"enable_hr": True, "hr_upscaler": "Latent"}, "takes pictures, not latents"),
    ({"enable_hr": True, "hr_upscaler": "Lanczos", "control_units": (ControlUnit(image=MAP, model="None",
                                                                              hr_option=1),)}, "Option to Both"),
])
def test_what_a_flux_control_checkpoint_cannot_take_is_refused_with_the_reason(manager, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve("tiny-flux-canny-dev")
    with pytest.raises(RequestError, match=reason):
        check(_canny_dev(**fields), info.family, info.family_label, info.name)


def test_at_submit_a_unit_without_a_model_is_taken_by_a_flux_control_checkpoint_and_refused_elsewhere(
        models_dir, tmp_path, cpu_fp32):
    from tests.api.conftest import make_services

    services = make_services(models_dir, tmp_path, cpu_fp32, per_user_outputs=False)  # the jobs are not started
    checked = services.processor.check(_canny_dev())
    assert checked.control_units[0].model == "None"
    with pytest.raises(RequestError, match="has no model"):
        services.processor.check(_request("tiny-flux", model="None"))


HIRES = dict(enable_hr=True, hr_scale=2.0, hr_upscaler="Lanczos", hr_second_pass_steps=3, denoising_strength=0.5)


def _is_the_map_at_64(picture: Image.Image) -> bool:
    return picture.size == (64, 64) and picture.getpixel((32, 32)) == (255, 255, 255) and \
        picture.getpixel((4, 4)) == (0, 0, 0)


def test_a_flux_unit_acts_in_both_hires_passes_like_the_bare_controlnet_pipelines(manager, models_dir):
    import diffusers

    result = generate(_request("tiny-flux", **HIRES), manager, SamplerRegistry.default())
    # The second pass's map comes first: the unit's picture made again at the hires size.
    assert [(m.unit, m.image.size) for m in result.detected_maps] == [(0, (64, 64)), (0, (32, 32))]
    hr_map = result.detected_maps[0].image
    assert _is_the_map_at_64(hr_map)
    small = _bare(models_dir, "tiny-flux", "FluxControlNetPipeline", "FluxControlNetModel", "flux-canny",
                  guidance_scale=3.5)
    controlnet = diffusers.FluxControlNetModel.from_pretrained(str(models_dir / "ControlNet" / "flux-canny"))
    pipe = diffusers.FluxControlNetImg2ImgPipeline.from_pretrained(
        str(models_dir / "Stable-diffusion" / "tiny-flux"), controlnet=controlnet, dtype=torch.float32,
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    # Hires steps 3 at denoising 0.5: A1111 stretches the schedule to 6 steps and runs the last 3.
    bare = pipe(prompt=_request("tiny-flux").prompt, image=small.resize((64, 64), Image.Resampling.LANCZOS),
                control_image=hr_map, strength=0.5, controlnet_conditioning_scale=0.8, control_guidance_end=0.7,
                guidance_scale=3.5, height=64, width=64, num_inference_steps=6,
                generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
    text = result.infotexts[0]
    assert "Hr Option: Both" in text and "Hires upscale: 2" in text and "Model: flux-canny" in text


def test_a_units_hires_fix_option_picks_the_passes_it_acts_in(manager, models_dir):
    unit = _request("tiny-flux").control_units[0]
    pictures = {}
    for option in (0, 1, 2):
        result = generate(_request("tiny-flux", control_units=(replace(unit, hr_option=option),), **HIRES), manager,
                          SamplerRegistry.default())
        assert result.images[0].size == (64, 64)
        pictures[option] = np.asarray(result.images[0])
    plain = np.asarray(generate(_request("tiny-flux", control_units=(), **HIRES), manager,
                                SamplerRegistry.default()).images[0])
    assert len({p.tobytes() for p in (*pictures.values(), plain)}) == 4  # each pass the unit steers shows
    assert "Hr Option: Low res only" in generate(_request("tiny-flux", control_units=(replace(unit, hr_option=1),),
                                                          **HIRES), manager, SamplerRegistry.default()).infotexts[0]


def test_sd3_units_run_the_first_pass_of_a_hires_fix_when_they_are_low_res_only(manager):
    unit = replace(_request("tiny-sd3", model="sd3-canny").control_units[0], hr_option=1)
    result = generate(_request("tiny-sd3", model="sd3-canny", control_units=(unit,), **HIRES), manager,
                      SamplerRegistry.default())
    assert result.images[0].size == (64, 64) and "Hr Option: Low res only" in result.infotexts[0]


def test_a_flux_control_checkpoint_runs_the_hires_fix_with_its_picture_at_the_hires_size(manager, models_dir):
    import diffusers

    result = generate(_canny_dev(**HIRES), manager, SamplerRegistry.default())
    assert [m.image.size for m in result.detected_maps] == [(64, 64), (32, 32)]
    hr_map = result.detected_maps[0].image
    assert _is_the_map_at_64(hr_map)
    folder = str(models_dir / "Stable-diffusion" / "tiny-flux-canny-dev")
    first = diffusers.FluxControlPipeline.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    first.set_progress_bar_config(disable=True)
    small = first(prompt=_canny_dev().prompt, control_image=MAP, guidance_scale=30.0, height=32, width=32,
                  num_inference_steps=3, generator=torch.Generator().manual_seed(7)).images[0]
    second = diffusers.FluxControlImg2ImgPipeline.from_pipe(first, dtype=torch.float32)
    bare = second(prompt=_canny_dev().prompt, image=small.resize((64, 64), Image.Resampling.LANCZOS),
                  control_image=hr_map, strength=0.5, guidance_scale=30.0, height=64, width=64,
                  num_inference_steps=6, generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
