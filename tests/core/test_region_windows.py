"""A region's window of the latent and the regional VAE decoder, on small tensors and a tiny random UNet: windows
snap to the UNet's coarsest cell, a region covering its window gets exactly the UNet's prediction for that window
with its own prompt, and the decoder's normalisation keeps one region's statistics out of another's."""

from __future__ import annotations

from dataclasses import replace

import torch

from modules.core.regions import Region
from modules.engine import region_vae
from modules.engine import region_windows as windows
from modules.engine import regions as regional
from tests.core.test_regions import BASE, LEFT


def test_a_window_is_the_regions_bounding_box_snapped_outward_to_the_coarsest_cell():
    share = torch.zeros(10, 20)
    share[3:5, 9:13] = 1.0
    assert windows.window(share, 4) == (0, 8, 8, 16)
    assert windows.window(torch.zeros(10, 20), 4) is None
    share[9, 19] = 0.2  # reaching the far corner: clamped to the picture, not past it
    assert windows.window(share, 4) == (0, 10, 8, 20)


def test_group_norm_per_region_keeps_one_regions_values_out_of_anothers_statistics():
    norm = torch.nn.GroupNorm(2, 4)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(1, 4, 3, 6)
    one = torch.zeros(18, dtype=torch.long)
    assert torch.allclose(region_vae.group_norm(norm, x, one), norm(x), atol=1e-5)  # one label: the plain norm
    labels = (torch.arange(18) % 6 >= 3).long()  # left and right halves
    shifted = x.clone()
    shifted[..., 3:] = shifted[..., 3:] * 5 + 7  # the right half changes a lot
    left = region_vae.group_norm(norm, x, labels)[..., :3]
    assert torch.allclose(region_vae.group_norm(norm, shifted, labels)[..., :3], left, atol=1e-5)
    assert not torch.allclose(norm(shifted)[..., :3], norm(x)[..., :3], atol=1e-2)  # the plain norm mixes them


def test_a_region_covering_its_window_gets_the_unets_prediction_for_that_window_with_its_prompt(manager):
    request = replace(BASE, regions=(LEFT,))
    region_plan = regional.plan(request, manager, [])
    gen = torch.Generator().manual_seed(0)
    with manager.use("tiny-a") as loaded:
        unet = loaded.pipe.unet
        sample = torch.randn(2, unet.config.in_channels, 16, 16, generator=gen)
        context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)
        with torch.no_grad():
            plain = unet(sample, 10, encoder_hidden_states=context).sample
            with regional.installed(loaded.pipe, region_plan, request, "tiny"):
                drawn = unet(sample, 10, encoder_hidden_states=context).sample
            region_prompt = regional.encode_regions(loaded.pipe, region_plan, 1)[0]
            alone = unet(sample[..., :8], 10, encoder_hidden_states=torch.cat([context[:1], region_prompt])).sample
    assert torch.allclose(drawn[..., :8], alone, atol=1e-5)  # the left half: its own picture with its prompt
    assert not torch.allclose(drawn[..., :8], plain[..., :8], atol=1e-3)


def test_the_decoder_comes_back_unchanged_after_the_job(manager):
    request = replace(BASE, regions=(LEFT, Region("a green star", 1.0, (0.5, 0.0, 1.0, 1.0))))
    region_plan = regional.plan(request, manager, [])
    with manager.use("tiny-a") as loaded:
        vae = loaded.pipe.vae
        latent = torch.randn(1, vae.config.latent_channels, 8, 8, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            before = vae.decode(latent).sample
            with regional.installed(loaded.pipe, region_plan, request, "tiny"):
                during = vae.decode(latent).sample
            after = vae.decode(latent).sample
    assert torch.equal(before, after)
    assert not torch.allclose(before, during, atol=1e-4)


def test_a_controlnets_residuals_are_cut_to_the_window_at_every_level(manager):
    from diffusers import ControlNetModel

    request = replace(BASE, regions=(LEFT,))
    region_plan = regional.plan(request, manager, [])
    gen = torch.Generator().manual_seed(2)
    with manager.use("tiny-a") as loaded:
        unet = loaded.pipe.unet
        controlnet = ControlNetModel.from_unet(unet)
        for p in controlnet.parameters():  # from_unet starts at zero: give the residuals something to carry
            torch.nn.init.normal_(p, std=0.05, generator=gen)
        sample = torch.randn(2, unet.config.in_channels, 16, 16, generator=gen)
        context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)
        hint = torch.rand(2, 3, 128, 128, generator=gen)
        with torch.no_grad():
            down, mid = controlnet(sample, 10, encoder_hidden_states=context, controlnet_cond=hint,
                                   return_dict=False)
            with regional.installed(loaded.pipe, region_plan, request, "tiny"):
                drawn = unet(sample, 10, encoder_hidden_states=context, down_block_additional_residuals=down,
                             mid_block_additional_residual=mid).sample
            region_prompt = regional.encode_regions(loaded.pipe, region_plan, 1)[0]
            cut = [r[..., : -(-r.shape[-1] // 2)] for r in down]  # the left half of every level
            alone = unet(sample[..., :8], 10, encoder_hidden_states=torch.cat([context[:1], region_prompt]),
                         down_block_additional_residuals=cut,
                         mid_block_additional_residual=mid[..., : -(-mid.shape[-1] // 2)]).sample
    assert torch.allclose(drawn[..., :8], alone, atol=1e-5)
