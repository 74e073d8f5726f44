"""A single-file checkpoint whose UNet is stored in fp8 (as Civitai's "fp8" files are) loads through our offline
single-file path, keeps its UNet in fp8 on the device with every value exact, and draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.engine import placement
from modules.engine.devices import DeviceConfig
from modules.engine.models import single_file as sf
from modules.engine.models.single_file import ModelFamily, load_single_file
from tests.core.test_single_file import _random_sd1_pipeline, _tiny_sd1_configs
from tests.fixtures.original_layout import write_original_checkpoint

UNET = "model.diffusion_model."


def test_an_fp8_single_file_loads_as_fp8_with_exact_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sf, "CONFIGS", _tiny_sd1_configs(tmp_path / "configs"))
    path = tmp_path / "tiny-fp8.safetensors"
    write_original_checkpoint(_random_sd1_pipeline(sf.CONFIGS / "sd1"), path, dtype=None)
    stored = {k: v.to(torch.float8_e4m3fn) if k.startswith(UNET) and v.dim() > 1 else v
              for k, v in load_file(str(path)).items()}
    save_file(stored, str(path))
    assert placement.file_has_fp8(path)
    device = DeviceConfig(torch.device("cpu"), torch.bfloat16, "test")
    pipe = load_single_file(path, ModelFamily("sd1", "SD 1.x"), dtype=torch.bfloat16)
    placed = placement.place(pipe, device, fp8_file=True)
    assert placed.fp8 and placed.fp8_reason == "stored in fp8 in the file"
    weight = pipe.unet.down_blocks[0].resnets[0].conv1.weight
    original = stored[UNET + "input_blocks.1.0.in_layers.2.weight"]
    assert weight.dtype == torch.float8_e4m3fn
    assert torch.equal(weight.view(torch.uint8), original.view(torch.uint8))
    assert pipe.vae.decoder.conv_in.weight.dtype == torch.bfloat16  # the rest computes as usual
    latents = pipe("a cat", num_inference_steps=1, height=64, width=64, output_type="latent").images
    assert torch.isfinite(latents.float()).all()
