"""Regional prompting on tiny random UNets: the cross-attention changes only inside a region, a region's LoRA acts
only there, the UNet's own processors and weights come back after the job (even a failing one), whole jobs
reproduce from their seed and infotext, hires and SDXL take regions, and what cannot take them is refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from modules.core.infotext import parse_infotext
from modules.core.regions import Region, RegionError
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import ControlUnit, GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine import regions as regional
from modules.engine.generation import generate
from modules.engine.models.registry import CheckpointInfo
from tests.core.test_lora import lora_manager, lora_models_dir  # noqa: F401 (fixtures)

LEFT = Region("a blue square", 1.0, (0.0, 0.0, 0.5, 1.0))
BASE = GenerationRequest(prompt="a red circle", width=32, height=32, steps=3, seed=11, sampler="Euler")


def _first_attn2(unet):
    return next(module for name, module in unet.named_modules() if name.endswith("attn2"))


def _cross_attention_output(pipe, request, region_plan, label="tiny") -> torch.Tensor:
    """(2, side, side, channels): the first cross-attention layer's output for one UNet call with CFG rows (the
    picture's left half is the first side // 2 columns)."""
    unet = pipe.unet
    captured = {}
    def capture(module, args, out) -> None:  # the full pass's output (a region's window calls the layer again)
        captured.setdefault("out", out)

    hook = _first_attn2(unet).register_forward_hook(capture)
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(2, unet.config.in_channels, 16, 16, generator=gen)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)
    try:
        with regional.installed(pipe, region_plan, request, label), torch.no_grad():
            unet(sample, 10, encoder_hidden_states=context)
    finally:
        hook.remove()
    out = captured["out"]
    side = int(out.shape[1] ** 0.5)  # a square latent: the layer's own size
    return out.reshape(2, side, side, -1)


def test_a_region_changes_the_cross_attention_only_inside_its_box(manager):
    request = replace(BASE, regions=(LEFT,))
    with manager.use("tiny-a") as loaded:
        plain = _cross_attention_output(loaded.pipe, request, None)
        regioned = _cross_attention_output(loaded.pipe, request, regional.plan(request, manager, []))
    assert torch.equal(regioned[0], plain[0])  # the negative prompt's row is left alone
    half = plain.shape[2] // 2
    assert torch.equal(regioned[1, :, half:], plain[1, :, half:])  # right half: outside the box
    assert (regioned[1, :, :half] - plain[1, :, :half]).abs().mean() > 1e-3  # left half: the region's prompt


def test_the_unets_own_processors_come_back_after_the_job_and_after_an_error(manager):
    request = replace(BASE, regions=(LEFT,))
    with manager.use("tiny-a") as loaded:
        unet = loaded.pipe.unet
        before = unet.attn_processors
        with regional.installed(loaded.pipe, regional.plan(request, manager, []), request, "tiny"):
            assert isinstance(unet.attn_processors[next(k for k in before if "attn2" in k)],
                              regional.RegionalAttention)
        assert all(unet.attn_processors[k] is v for k, v in before.items())
        with pytest.raises(RuntimeError, match="boom"):
            with regional.installed(loaded.pipe, regional.plan(request, manager, []), request, "tiny"):
                raise RuntimeError("boom")
        assert all(unet.attn_processors[k] is v for k, v in before.items())
        assert not unet._forward_pre_hooks  # the size hook is gone too


def test_a_region_lora_acts_only_inside_its_region_and_leaves_the_weights_exact(lora_manager):  # noqa: F811
    plain = replace(BASE, regions=(LEFT,))
    with_lora = replace(BASE, regions=(replace(LEFT, prompt="a blue square <lora:glow:1>"),))
    warnings: list[str] = []
    lora_plan = regional.plan(with_lora, lora_manager, warnings)
    assert lora_plan.loras[0][0][0].name == "glow" and regional.LORA_NOTE in warnings
    entries = regional.idle_entries(lora_plan, [])
    with lora_manager.use("tiny-a", loras=entries) as loaded:
        weights = {k: v.clone() for k, v in loaded.pipe.unet.state_dict().items()}
        without = _cross_attention_output(loaded.pipe, plain, regional.plan(plain, lora_manager, []))
        inside = _cross_attention_output(loaded.pipe, with_lora, lora_plan)
        after = loaded.pipe.unet.state_dict()
        assert all(torch.equal(after[k], v) for k, v in weights.items())
    half = inside.shape[2] // 2
    assert torch.equal(inside[:, :, half:], without[:, :, half:])  # outside the region the LoRA does nothing
    assert (inside[1, :, :half] - without[1, :, :half]).abs().mean() > 1e-3


def test_regions_draw_a_different_picture_that_reproduces_from_its_infotext(manager, samplers):
    plain = generate(validate(BASE, samplers=samplers), manager, samplers)
    request = validate(replace(BASE, regions=(LEFT, Region("a green star", 0.6, (0.5, 0.0, 1.0, 1.0)))),
                       samplers=samplers)
    first = generate(request, manager, samplers)
    assert not np.array_equal(np.asarray(first.images[0]), np.asarray(plain.images[0]))
    parsed = parse_infotext(first.infotexts[0])
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["regions"] == request.regions
    again = generate(validate(replace(BASE, **{k: v for k, v in fields.items() if k in ("prompt", "seed", "regions")}),
                              samplers=samplers), manager, samplers)
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(first.images[0]))
    # The UNet draws as before once the job is over.
    assert np.array_equal(np.asarray(generate(validate(BASE, samplers=samplers), manager, samplers).images[0]),
                          np.asarray(plain.images[0]))


def test_hires_and_img2img_take_the_regions_at_their_own_size(manager, samplers):
    request = replace(BASE, regions=(LEFT,), enable_hr=True, hr_scale=2, hr_upscaler="Latent",
                      hr_second_pass_steps=2, denoising_strength=0.6)
    big = generate(validate(request, samplers=samplers), manager, samplers)
    plain_big = generate(validate(replace(request, regions=()), samplers=samplers), manager, samplers)
    assert big.images[0].size == (64, 64)
    assert not np.array_equal(np.asarray(big.images[0]), np.asarray(plain_big.images[0]))
    picture = plain_big.images[0]
    img2img = replace(BASE, mode="img2img", init_images=(picture,), width=64, height=64, denoising_strength=0.7)
    with_regions = generate(validate(replace(img2img, regions=(LEFT,)), samplers=samplers), manager, samplers)
    without = generate(validate(img2img, samplers=samplers), manager, samplers)
    assert not np.array_equal(np.asarray(with_regions.images[0]), np.asarray(without.images[0]))


def test_sdxl_takes_regions(sdxl_models, samplers):
    request = validate(replace(BASE, checkpoint="tiny-xl", regions=(LEFT,)), samplers=samplers)
    with_regions = generate(request, sdxl_models, samplers)
    without = generate(replace(request, regions=()), sdxl_models, samplers)
    assert "Regions" in with_regions.infotexts[0]
    assert not np.array_equal(np.asarray(with_regions.images[0]), np.asarray(without.images[0]))


def test_families_without_a_cross_attention_unet_are_refused_before_queueing(manager):
    request = validate(replace(BASE, regions=(LEFT,)))
    flux = CheckpointInfo(name="flux-dev", path=manager.resolve("tiny-a").path, kind="diffusers", family="flux")
    with pytest.raises(RequestError, match="Regions need a UNet with cross-attention"):
        regional.check(request, flux, manager)
    regional.check(request, manager.resolve("tiny-a"), manager)  # an SD-architecture UNet passes


def test_ip_adapter_units_detailer_and_prompt_editing_in_regions_are_refused(manager):
    checkpoint = manager.resolve("tiny-a")
    unit = ControlUnit(module="ip-adapter_clip_sd15", model="ip-adapter_sd15")
    with pytest.raises(RequestError, match="IP-Adapter"):
        regional.check(replace(BASE, regions=(LEFT,), control_units=(unit,)), checkpoint, manager)
    with pytest.raises(RequestError, match="prompt editing"):
        regional.check(replace(BASE, regions=(replace(LEFT, prompt="[cat:dog:0.5]"),)), checkpoint, manager)


def test_a_unet_whose_attention_another_feature_replaced_is_refused(manager):
    class OtherProcessor:
        def __call__(self, attn, hidden_states, *args, **kwargs):
            return hidden_states

    request = replace(BASE, regions=(LEFT,))
    with manager.use("tiny-a") as loaded:
        unet = loaded.pipe.unet
        own = unet.attn_processors
        unet.set_attn_processor({k: OtherProcessor() if "attn2" in k else v for k, v in own.items()})
        try:
            with pytest.raises(RegionError, match="cannot be combined with OtherProcessor"):
                with regional.installed(loaded.pipe, regional.plan(request, manager, []), request, "tiny"):
                    pass
        finally:
            unet.set_attn_processor(own)


def test_self_attention_inside_a_region_does_not_look_into_another_region():
    state = regional._State((LEFT, Region("a green star", 1.0, (0.5, 0.0, 1.0, 0.5))), None, 1, (4, 4))
    walls = state.walls(4, 4, torch.device("cpu")).reshape(4, 4, 4, 4)
    left, top_right, bottom_right = (0, 0), (0, 3), (3, 3)  # (row, column)
    assert not walls[left][top_right] and not walls[top_right][left]  # two regions: walled off both ways
    assert walls[left][bottom_right] and walls[bottom_right][left]  # the area outside every region: open
    assert walls[left][(3, 0)]  # within the region
    assert regional._State((LEFT,), None, 1, (4, 4)).walls(4, 4, torch.device("cpu")) is None  # one region: no wall
