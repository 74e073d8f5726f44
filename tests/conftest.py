"""Shared pytest setup: offline environment and tiny random models."""

import os

# Before any test imports gradio or huggingface_hub: they read these at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
# A Ray runtime a test starts serves this machine only: its servers listen on 127.0.0.1 (read when ray is imported,
# so before any test imports it; modules/service/workers/runtime.py sets the same for the app).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: needs full-size models or minutes of CPU; deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """models/ with two tiny random checkpoints (diffusers folders) in Stable-diffusion/."""
    from tests.fixtures.tiny import save_tiny_pipeline

    root = tmp_path_factory.mktemp("models")
    for name, seed in (("tiny-a", 0), ("tiny-b", 1)):
        save_tiny_pipeline(root / "Stable-diffusion" / name, seed)
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def cpu_fp32():
    import torch

    from modules.engine.devices import DeviceConfig

    return DeviceConfig(torch.device("cpu"), torch.float32, "tests run in float32 on the CPU")


@pytest.fixture
def manager(tiny_models_dir, cpu_fp32, tmp_path):
    from tests.fixtures.tiny import tiny_manager

    return tiny_manager(tiny_models_dir, cpu_fp32, tmp_path / "cache.json")


@pytest.fixture(scope="session")
def samplers():
    from modules.engine.samplers import SamplerRegistry

    return SamplerRegistry.default()


@pytest.fixture(scope="session")
def cn_models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    """models/ with tiny-a, two tiny ControlNets for it, and one declared SD 1.x (refused for tiny-a)."""
    import json
    import shutil

    from tests.fixtures.tiny import save_tiny_controlnet

    root = tmp_path_factory.mktemp("cn-models")
    (root / "Stable-diffusion").mkdir()
    (root / "Stable-diffusion" / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a",
                                                      target_is_directory=True)
    unet = tiny_models_dir / "Stable-diffusion" / "tiny-a" / "unet"
    save_tiny_controlnet(unet, root / "ControlNet" / "tiny-cn", seed=1)
    save_tiny_controlnet(unet, root / "ControlNet" / "tiny-cn2", seed=2)
    # The same weights, declared SD 1.x: refused for the tiny (custom-32) checkpoint without loading it.
    shutil.copytree(root / "ControlNet" / "tiny-cn", root / "ControlNet" / "sd15-cn")
    config = json.loads((root / "ControlNet" / "sd15-cn" / "config.json").read_text())
    (root / "ControlNet" / "sd15-cn" / "config.json").write_text(json.dumps({**config, "cross_attention_dim": 768}))
    (root / "VAE").mkdir()
    return root
