"""bitsandbytes checkpoints (NF4, int8) on a machine that cannot run them: listed unusable with the reason and what
to use instead, and a job that names one is refused with that reason; the scan and the other models are unharmed.
On CUDA with bitsandbytes installed, a diffusers folder saved quantised is usable (checked on the registry here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modules.core.requests import GenerationRequest
from modules.engine.generation import generate
from modules.engine.models import bnb_files
from modules.engine.models.manager import ModelNotFound
from modules.engine.models.registry import CheckpointRegistry, HashCache
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux

PREFIX = "model.diffusion_model.double_blocks.0.img_attn.qkv."


def _forge_nf4_file(path: Path) -> Path:
    """The keys Forge's flux1-dev-bnb-nf4 stores beside each packed 4-bit weight."""
    save_file({PREFIX + "weight": torch.zeros(96, 1, dtype=torch.uint8), PREFIX + "weight.absmax": torch.ones(6),
               PREFIX + "weight.quant_map": torch.linspace(-1, 1, 16),
               PREFIX + "weight.quant_state.bitsandbytes__nf4": torch.zeros(60, dtype=torch.uint8),
               PREFIX + "bias": torch.zeros(48)}, str(path))
    return path


def _int8_file(path: Path) -> Path:
    save_file({PREFIX + "weight": torch.zeros(48, 16, dtype=torch.int8), PREFIX + "SCB": torch.ones(48),
               PREFIX + "weight_format": torch.zeros((), dtype=torch.uint8)}, str(path))
    return path


def _quantised_folder(folder: Path) -> Path:
    save_tiny_flux(folder)
    config_file = folder / "transformer" / "config.json"
    config = json.loads(config_file.read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True,
                                     "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "bfloat16"}
    config_file.write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def bnb_models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bnb-models")
    checkpoints = root / "Stable-diffusion"
    checkpoints.mkdir()
    _forge_nf4_file(checkpoints / "flux1-dev-bnb-nf4.safetensors")
    _int8_file(checkpoints / "model-int8.safetensors")
    _quantised_folder(checkpoints / "flux-nf4-folder")
    save_tiny_flux(checkpoints / "tiny-flux", seed=1)
    (root / "VAE").mkdir()
    return root


def test_bitsandbytes_files_are_told_apart_from_their_headers_and_configs(bnb_models_dir):
    checkpoints = bnb_models_dir / "Stable-diffusion"
    assert bnb_files.file_quantization(checkpoints / "flux1-dev-bnb-nf4.safetensors") == "nf4"
    assert bnb_files.file_quantization(checkpoints / "model-int8.safetensors") == "int8"
    assert bnb_files.folder_quantization(checkpoints / "flux-nf4-folder") == "nf4"
    assert bnb_files.folder_quantization(checkpoints / "tiny-flux") is None


def test_on_the_cpu_every_bitsandbytes_checkpoint_is_listed_unusable_with_why_and_what_instead(bnb_models_dir,
                                                                                               tmp_path):
    registry = CheckpointRegistry(bnb_models_dir / "Stable-diffusion", HashCache(tmp_path / "cache.json"), "cpu")
    found = {info.name: info for info in registry.refresh()}
    nf4 = found["flux1-dev-bnb-nf4.safetensors"]
    assert not nf4.usable and "NF4" in nf4.error and "GGUF" in nf4.error
    assert not found["model-int8.safetensors"].usable and "int8" in found["model-int8.safetensors"].error
    folder = found["flux-nf4-folder"]
    assert not folder.usable and "CUDA GPUs only" in folder.error and "cpu" in folder.error
    assert folder.family == "flux" and folder.quant == "nf4"
    assert found["tiny-flux"].usable  # the scan goes on


def test_on_cuda_a_quantised_folder_needs_the_bitsandbytes_package(bnb_models_dir, tmp_path):
    registry = CheckpointRegistry(bnb_models_dir / "Stable-diffusion", HashCache(tmp_path / "cache.json"), "cuda")
    folder = {info.name: info for info in registry.refresh()}["flux-nf4-folder"]
    if bnb_files.installed():
        assert folder.usable
    else:
        assert "bitsandbytes package is not installed" in folder.error
    assert bnb_files.refusal("nf4", "diffusers", "cuda", have_bitsandbytes=True) is None
    assert "single-file format" in bnb_files.refusal("nf4", "single_file", "cuda", have_bitsandbytes=True)


def test_a_job_naming_a_bitsandbytes_checkpoint_is_refused_with_the_reason_and_nothing_is_loaded(bnb_models_dir,
                                                                                                 cpu_fp32, tmp_path):
    manager = tiny_manager(bnb_models_dir, cpu_fp32, tmp_path / "cache.json")
    request = GenerationRequest(prompt="a red circle", checkpoint="flux-nf4-folder", steps=2, width=32, height=32,
                                seed=1, cfg_scale=1.0)
    with pytest.raises(ModelNotFound, match="CUDA GPUs only"):
        generate(request, manager, SamplerRegistry.default())
    assert manager.loaded_names() == []
