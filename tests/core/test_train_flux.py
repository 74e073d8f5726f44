"""The Flux demo trainer: a tiny run exports a folder diffusers' FluxPipeline loads and our model list calls a Flux
demo member; run again with a larger budget, it continues from its state instead of starting over."""

from __future__ import annotations

import json

import torch


def test_a_tiny_flux_run_exports_a_loadable_folder_and_resumes_from_its_state(tmp_path, cpu_fp32):
    from diffusers import FluxPipeline

    from modules.engine.models.registry import _describe_folder
    from training.train_flux import main

    run, out = tmp_path / "run", tmp_path / "models" / "Stable-diffusion" / "demo-flux-tiny"
    args = ["--tiny", "--run-dir", str(run), "--out", str(out), "--batch", "4", "--vae-steps", "3",
            "--probe-every", "1000"]
    main(args + ["--steps", "4"])
    first = torch.load(run / "state.pt", weights_only=True)
    assert first["step"] == 4 and first["vae_done"] and "vae_score" in first
    pipe = FluxPipeline.from_pretrained(str(out), local_files_only=True)
    assert pipe.transformer.config.in_channels == 16 * 4 and not pipe.transformer.config.guidance_embeds
    assert pipe.vae.config.shift_factor == first["shift_factor"]
    assert _describe_folder(out)["family"] == "demo-flux"
    assert json.loads((out / "training.json").read_text())["steps"] == 4

    main(args + ["--steps", "6"])
    second = torch.load(run / "state.pt", weights_only=True)
    assert second["step"] == 6 and second["vae_step"] == first["vae_step"]  # the VAE was not trained again
