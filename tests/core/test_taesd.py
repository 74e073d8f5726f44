"""Tiny decoders (TAESD) from models/VAE-approx: A1111's decoder-only files and diffusers folders load onto
diffusers' AutoencoderTiny, serve live previews, and decode the final pictures when a job asks (Decode method
TAESD). Random weights throughout: what is tested is the plumbing, not the pictures' beauty."""

from __future__ import annotations

import os
import time

import pytest
import torch

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.core.results import JobControl
from modules.engine import previews, taesd
from modules.engine.generation import generate
from tests.core.conftest import InMemoryModels
from tests.fixtures.tiny import save_tiny_pipeline


def a1111_layout(model) -> dict[str, torch.Tensor]:
    """The decoder's weights as madebyollin's taesd_decoder.pth numbers them (layer 0 is a parameter-free clamp)."""
    out = {}
    for key, value in model.decoder.state_dict().items():
        index, _, rest = key.removeprefix("layers.").partition(".")
        out[f"{int(index) + 1}.{rest}"] = value.clone()
    return out


@pytest.fixture(scope="module")
def full_size_tiny():
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    return AutoencoderTiny().eval()  # TAESD's real architecture (random weights)


@pytest.fixture(scope="module")
def small_tiny():
    """A TAESD-shaped decoder that upsamples by 2, like the tiny test VAE."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(1)
    return AutoencoderTiny(encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
                           num_encoder_blocks=(1, 1), num_decoder_blocks=(1, 1)).eval()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_an_a1111_decoder_file_decodes_exactly_like_the_model_it_came_from(tmp_path, full_size_tiny, suffix):
    path = tmp_path / f"taesd_decoder{suffix}"
    state = a1111_layout(full_size_tiny)
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    loaded = taesd.load(path, 4, torch.float32, torch.device("cpu"))
    latents = torch.randn(1, 4, 8, 8)
    expected = full_size_tiny.decode(latents).sample
    got = taesd.decode_pixels(loaded, latents)
    assert got.shape == (1, 3, 64, 64)
    assert torch.equal(got, expected)


def test_a_file_that_is_not_a_taesd_decoder_is_refused_with_its_name(tmp_path):
    path = tmp_path / "taesd_decoder.pth"
    torch.save({"model.diffusion_model.conv.weight": torch.zeros(1)}, path)
    with pytest.raises(taesd.TinyDecoderError, match="taesd_decoder.pth"):
        taesd.load(path, 4, torch.float32, torch.device("cpu"))


def test_each_family_finds_its_own_file_and_a_replaced_file_is_read_again(tmp_path, full_size_tiny):
    folder = tmp_path / "VAE-approx"
    folder.mkdir()
    torch.save(a1111_layout(full_size_tiny), folder / "taesdxl_decoder.pth")
    decoders = taesd.TinyDecoders(folder, torch.device("cpu"), torch.float32)
    assert decoders.get("sd1") is None and not decoders.available("sd2")
    assert decoders.get("demo") is None  # our demo family has no tiny decoder
    first = decoders.get("sdxl")
    assert first is not None and decoders.get("sdxl-refiner") is first  # the refiner shares SDXL's latents
    with torch.no_grad():
        for p in full_size_tiny.decoder.parameters():
            p.add_(0.01)
    torch.save(a1111_layout(full_size_tiny), folder / "taesdxl_decoder.pth")
    stamp = time.time() + 5
    os.utime(folder / "taesdxl_decoder.pth", (stamp, stamp))
    second = decoders.get("sdxl")
    assert second is not first
    assert not torch.equal(next(second.parameters()), next(first.parameters()))


@pytest.fixture(scope="module")
def sd1_models(tmp_path_factory):
    from diffusers import StableDiffusionPipeline

    folder = save_tiny_pipeline(tmp_path_factory.mktemp("m") / "tiny", seed=3)
    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return InMemoryModels(pipe, name="tiny-sd1", family="sd1")


@pytest.fixture()
def approx_dir(tmp_path, small_tiny):
    small_tiny.save_pretrained(tmp_path / "VAE-approx" / "taesd")  # the diffusers folder form
    return tmp_path / "VAE-approx"


def _request(**fields) -> GenerationRequest:
    return validate(GenerationRequest(prompt="a red circle", steps=4, width=32, height=32, seed=5,
                                      sampler="Euler", cfg_scale=1.0, **fields))


def test_previews_come_from_the_tiny_decoder_when_its_file_is_there(sd1_models, samplers, approx_dir):
    shown = []
    control = JobControl(preview_every=1, on_step=lambda info: shown.append(info.preview))
    tiny = taesd.TinyDecoders(approx_dir, torch.device("cpu"), torch.float32)
    generate(_request(), sd1_models, samplers, control, tiny=tiny, preview_method=previews.TAESD)
    pictures = [p for p in shown if p is not None]
    assert pictures and pictures[0].size == (32, 32)  # full size: the linear map gives one pixel per latent (16)
    shown.clear()
    generate(_request(), sd1_models, samplers, control, tiny=tiny, preview_method=previews.APPROX_CHEAP)
    assert [p.size for p in shown if p is not None][0] == (16, 16)


def test_previews_keep_the_linear_map_without_a_tiny_decoder(sd1_models, samplers, tmp_path):
    shown = []
    control = JobControl(preview_every=1, on_step=lambda info: shown.append(info.preview))
    tiny = taesd.TinyDecoders(tmp_path / "empty", torch.device("cpu"), torch.float32)
    generate(_request(), sd1_models, samplers, control, tiny=tiny)
    assert [p.size for p in shown if p is not None][0] == (16, 16)


def test_decode_method_taesd_decodes_the_pictures_with_the_tiny_decoder_and_says_so(sd1_models, samplers,
                                                                                    approx_dir):
    tiny = taesd.TinyDecoders(approx_dir, torch.device("cpu"), torch.float32)
    full = generate(_request(), sd1_models, samplers, tiny=tiny)
    fast = generate(_request(vae_decode_method="TAESD"), sd1_models, samplers, tiny=tiny)
    assert fast.images[0].size == full.images[0].size == (32, 32)
    assert fast.images[0].tobytes() != full.images[0].tobytes()
    assert parse_infotext(fast.infotexts[0]).params["Decode method"] == "TAESD"
    assert "Decode method" not in parse_infotext(full.infotexts[0]).params
    # The pipeline's own VAE is itself again after the job.
    again = generate(_request(), sd1_models, samplers, tiny=tiny)
    assert again.images[0].tobytes() == full.images[0].tobytes()


def test_decode_method_taesd_without_the_file_fails_saying_which_file_to_get(sd1_models, samplers, tmp_path):
    tiny = taesd.TinyDecoders(tmp_path / "empty", torch.device("cpu"), torch.float32)
    with pytest.raises(taesd.TinyDecoderError, match="taesd_decoder.pth.*madebyollin"):
        generate(_request(vae_decode_method="TAESD"), sd1_models, samplers, tiny=tiny)


def test_an_unknown_decode_method_is_refused_listing_the_choices():
    with pytest.raises(RequestError, match="Full, TAESD"):
        _request(vae_decode_method="Approx NN")
