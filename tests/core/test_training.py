"""A few steps of the real training code on the tiny configuration: it runs, resumes and exports a
folder that the app's model manager loads and draws with. (The shipped weights are never retrained here.)"""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from modules.training.demo_model import TINY
from modules.training.train import RunOptions, run_base


def test_train_resume_export_and_load(tmp_path, samplers, cpu_fp32):
    out = tmp_path / "models" / "Stable-diffusion" / "demo-tiny"
    opts = RunOptions(run_dir=tmp_path / "run", out_dir=out, cfg=TINY, batch=4, vae_steps=6, vae_batch=4,
                      unet_steps=4)
    run_base(opts)
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["vae_step"] == 6 and state["unet_step"] == 4
    # Resuming continues from the saved step instead of starting again.
    run_base(replace(opts, unet_steps=6))
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["unet_step"] == 6
    assert json.loads((out / "training.json").read_text())["steps"] == 6
    assert (out / "latent_rgb.json").is_file()
    defaults = json.loads((out / "webui-defaults.json").read_text())
    assert defaults["width"] == defaults["height"] == TINY.image_size and defaults["prompt"]

    from modules.generation import generate
    from modules.models.manager import ModelManager
    from modules.requests import GenerationRequest

    manager = ModelManager(checkpoints_dir=out.parent, vae_dir=tmp_path / "VAE", cache_file=tmp_path / "c.json",
                           device=cpu_fp32)
    manager.refresh()
    info = manager.resolve(None)
    assert info.name == "demo-tiny" and info.family == "demo"
    result = generate(GenerationRequest(prompt="a red circle", width=16, height=16, steps=3, seed=1), manager, samplers)
    assert result.images[0].size == (16, 16)
