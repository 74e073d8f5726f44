"""--compile's decisions on the CPU: what is compiled for which denoiser and why, the refusal on the CPU, and the
"model loaded" hook noting the plan in the job details. Nothing here compiles (the blocks are only marked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from modules.core.settings import settings_from_args
from modules.engine import compilation
from modules.engine.compilation import CompileError, CompilePlan, check_flag, plan_for
from modules.engine.placement import Placement, PolicyChoice

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                attention_head_dim=2)


@pytest.fixture(scope="module")
def flux():
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                  attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                  pooled_projection_dim=16, axes_dims_rope=(2, 2, 4))


def test_the_flag_is_refused_on_the_cpu_with_what_to_do_and_skipped_on_mps():
    assert check_flag(False, "cpu") == ""
    with pytest.raises(CompileError, match="needs a CUDA GPU.*remove --compile"):
        check_flag(True, "cpu")
    assert "skipped on mps" in check_flag(True, "mps")
    assert "TF32" in check_flag(True, "cuda")


def test_a_unet_gets_its_transformer_blocks_compiled_and_channels_last(unet):
    plan = plan_for(unet, device_type="cuda", compile_available=True)
    assert plan.compile_blocks == ("BasicTransformerBlock",) and plan.channels_last
    assert plan.describe().startswith("compiled (regional torch.compile of BasicTransformerBlock; channels_last)")


def test_a_flux_transformer_compiles_the_blocks_it_names_and_stays_in_its_layout(flux):
    plan = plan_for(flux, device_type="cuda", compile_available=True)
    assert set(plan.compile_blocks) == {"FluxTransformerBlock", "FluxSingleTransformerBlock"}
    assert not plan.channels_last


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"device_type": "cpu"}, "the device is cpu"),
    ({"device_type": "mps"}, "the device is mps"),
    ({"policy": "lowvram"}, "lowvram"),
    ({"quantized": "gguf"}, "quantised (gguf)"),
    ({"fp8": True}, "fp8"),
    ({"compile_available": False}, "no torch.compile"),
])
def test_what_cannot_be_compiled_runs_eagerly_and_says_why(unet, kwargs, why):
    plan = plan_for(unet, **{"device_type": "cuda", "compile_available": True, **kwargs})
    assert not plan.compile_blocks
    assert why in plan.reason and plan.describe().startswith(("not compiled", "compiled (channels_last)"))


def test_a_model_without_a_denoiser_module_is_left_alone():
    plan = plan_for(None, device_type="cuda", compile_available=True)
    assert not plan.active and "no UNet or transformer" in plan.reason


def test_applying_a_plan_marks_each_block_and_changes_the_layout(unet):
    import copy

    model = copy.deepcopy(unet)
    blocks = compilation.apply(model, CompilePlan(compile_blocks=("BasicTransformerBlock",), channels_last=True))
    marked = [m for m in model.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    assert blocks == len(marked) == sum(type(m).__name__ == "BasicTransformerBlock" for m in model.modules()) > 0
    assert model.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)  # the plan touched the copy only


def test_the_model_loaded_hook_writes_the_plan_into_the_jobs_details(unet):
    placement = Placement(PolicyChoice("full", "fits"))
    loaded = SimpleNamespace(pipe=SimpleNamespace(unet=unet), placement=placement, info=SimpleNamespace(name="m"))
    plan = compilation.on_model_loaded(loaded, "mps")  # off CUDA: planned, nothing applied
    assert not plan.active
    assert placement.notes == ["not compiled: the device is mps; --compile is for CUDA GPUs"]


def test_the_service_refuses_compile_on_a_cpu_and_hooks_it_on_cuda(monkeypatch):
    from modules.engine.devices import DeviceConfig
    from modules.service.services import _compile_option

    settings = settings_from_args(["--compile"])
    assert settings.compile and not settings_from_args([]).compile
    models = SimpleNamespace(listeners=[])
    with pytest.raises(CompileError):
        _compile_option(settings, DeviceConfig(torch.device("cpu"), torch.float32, "test"), models)
    assert models.listeners == []
    tf32 = []
    monkeypatch.setattr(compilation, "enable_tf32", lambda: tf32.append(True))
    _compile_option(settings, DeviceConfig(torch.device("cuda"), torch.bfloat16, "test"), models)
    assert tf32 == [True] and len(models.listeners) == 1


def test_webui_started_with_compile_on_the_cpu_stops_with_the_reason(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    run = subprocess.run([sys.executable, str(ROOT / "webui.py"), "--compile", "--device", "cpu", "--models-dir",
                          str(tmp_path / "models"), "--outputs-dir", str(tmp_path / "out"), "--settings-file",
                          str(tmp_path / "settings.json"), "--port", "1"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1
    assert "error: --compile needs a CUDA GPU" in run.stderr
    assert "Traceback" not in run.stderr


def test_with_ray_workers_the_head_leaves_compile_to_the_workers():
    from modules.engine.devices import DeviceConfig
    from modules.service.services import _compile_option
    from modules.service.workers.runtime import worker_config

    settings = settings_from_args(["--compile", "--workers", "2"])
    models = SimpleNamespace(listeners=[])
    _compile_option(settings, DeviceConfig(torch.device("cpu"), torch.float32, "test"), models)  # no refusal
    assert models.listeners == []
    assert worker_config(settings).compile and not worker_config(settings_from_args(["--workers", "2"])).compile
