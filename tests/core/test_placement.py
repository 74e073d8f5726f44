"""Memory policy and fp8 weights: the policy is a pure function of the model's size, the free memory and the
--memory flag; fp8 storage runs on the CPU with a tiny UNet, and checkpoints stored in fp8 keep their values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine import placement
from modules.engine.generation import generate
from modules.engine.placement import GIB, ModelSize, choose

SDXL = ModelSize(total=int(6.5 * GIB), largest=int(4.8 * GIB), largest_name="unet")
FLUX = ModelSize(total=33 * GIB, largest=23 * GIB, largest_name="transformer")


def test_a_model_that_fits_with_room_to_work_stays_whole_on_the_gpu():
    assert choose(SDXL, 24 * GIB, "cuda").policy == "full"


def test_a_model_too_big_at_once_but_whose_largest_part_fits_is_offloaded_part_by_part():
    choice = choose(SDXL, 7 * GIB, "cuda")
    assert choice.policy == "offload"
    assert "largest part unet 4.8 GiB" in choice.reason and "7.0 GiB free" in choice.reason


def test_a_model_whose_largest_part_does_not_fit_streams_groups_of_layers():
    assert choose(FLUX, 12 * GIB, "cuda").policy == "lowvram"


def test_the_room_kept_for_the_work_grows_with_the_model():
    # 33 GiB of weights keep 8.25 GiB for the work: 40 GiB free is not enough to hold it all.
    assert choose(FLUX, 40 * GIB, "cuda").policy == "offload"
    assert choose(FLUX, 42 * GIB, "cuda").policy == "full"


def test_the_flag_forces_a_policy_and_says_so():
    choice = choose(SDXL, 80 * GIB, "cuda", "lowvram")
    assert choice.policy == "lowvram" and "--memory lowvram" in choice.reason


def test_on_the_cpu_everything_is_full_even_when_offload_is_asked_and_the_reason_says_why():
    choice = choose(FLUX, 1 * GIB, "cpu", "offload")
    assert choice.policy == "full"
    assert "no effect" in choice.reason


def test_an_unknown_policy_is_refused_listing_the_choices():
    with pytest.raises(placement.MemoryPolicyError, match="auto, full, offload, lowvram"):
        choose(SDXL, GIB, "cuda", "medvram")


def test_a_device_that_does_not_report_free_memory_keeps_everything_on_it():
    assert choose(SDXL, None, "mps").policy == "full"


def test_model_size_counts_fp8_weights_at_one_byte(sd1_pipe):
    full = placement.model_size(sd1_pipe, torch.bfloat16)
    fp8 = placement.model_size(sd1_pipe, torch.bfloat16, fp8=True)
    unet = sum(p.numel() for p in sd1_pipe.unet.parameters())
    assert full.total - fp8.total == unet


@pytest.fixture()
def sd1_pipe(tmp_path):
    from diffusers import StableDiffusionPipeline

    from tests.fixtures.tiny import save_tiny_pipeline

    folder = save_tiny_pipeline(tmp_path / "tiny", seed=4)
    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _request() -> GenerationRequest:
    return validate(GenerationRequest(prompt="a blue square", steps=3, width=32, height=32, seed=9, sampler="Euler"))


def test_fp8_weights_draw_a_picture_close_to_but_not_the_same_as_full_precision(manager, samplers, cpu_fp32):
    plain = generate(_request(), manager, samplers)
    assert plain.memory["policy"] == "full" and "fp8_weights" not in plain.memory
    assert manager.set_fp8("tiny-a", True)
    fp8 = generate(_request(), manager, samplers)
    loaded = manager.load(manager.resolve("tiny-a"))
    assert loaded.pipe.unet.down_blocks[0].resnets[0].conv1.weight.dtype == torch.float8_e4m3fn
    assert fp8.memory["fp8_weights"] == "fp8 weights chosen for this checkpoint"
    a = torch.from_numpy(np.asarray(plain.images[0], dtype=np.float32))
    b = torch.from_numpy(np.asarray(fp8.images[0], dtype=np.float32))
    difference = (a - b).abs().mean().item()
    assert 0 < difference < 20, difference
    assert manager.set_fp8("tiny-a", False)
    assert generate(_request(), manager, samplers).images[0].tobytes() == plain.images[0].tobytes()


def test_the_job_details_carry_the_policy_and_a_peak_memory_figure(manager, samplers):
    result = generate(_request(), manager, samplers)
    assert result.memory["policy"] == "full" and result.memory["reason"].startswith("CPU")
    assert result.memory["peak_bytes"] > 0 and "process RSS" in result.memory["peak"]


def test_a_checkpoint_stored_in_fp8_loads_as_fp8_with_its_values_exact(tmp_path, cpu_fp32, samplers):
    from safetensors.torch import load_file, save_file

    from tests.fixtures.tiny import save_tiny_pipeline, tiny_manager

    models = tmp_path / "models"
    folder = save_tiny_pipeline(models / "Stable-diffusion" / "tiny-fp8", seed=6)
    (models / "VAE").mkdir()
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    stored = {k: v.to(torch.float8_e4m3fn) if v.dim() > 1 else v for k, v in load_file(str(weights)).items()}
    save_file(stored, str(weights))
    manager = tiny_manager(models, cpu_fp32, tmp_path / "cache.json")
    result = generate(_request(), manager, samplers)
    assert result.memory["fp8_weights"] == "stored in fp8 in the file"
    unet = manager.load(manager.resolve("tiny-fp8")).pipe.unet
    name = "down_blocks.0.resnets.0.conv1.weight"
    weight = dict(unet.named_parameters())[name]
    assert weight.dtype == torch.float8_e4m3fn
    assert torch.equal(weight.view(torch.uint8), stored[name].view(torch.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="offloading needs a CUDA GPU")
def test_offload_policies_run_on_a_gpu_and_the_peak_is_the_allocators(manager, samplers, cpu_fp32):
    device = dataclasses.replace(cpu_fp32, device=torch.device("cuda"), dtype=torch.float16, memory="offload")
    manager.device = device
    result = generate(_request(), manager, samplers)
    assert result.memory["policy"] == "offload" and "CUDA" in result.memory["peak"]
