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


def test_the_lora_trainer_weights_the_loss_on_the_object_s_latent_pixels():
    from training import shapes
    from training.train_flux import unpack
    from training.train_flux_lora import LoraRunOptions, lora_batch, loss_weights

    opts = LoraRunOptions(base=None, run_dir=None, out=None, batch=4)
    images, captions, masks = lora_batch(opts, 3, 48, frozenset(s.key() for s in shapes.held_out_scenes()))
    assert masks.shape == (4, 1, 48, 48) and images.shape == (4, 3, 48, 48)
    weights = unpack(loss_weights(masks, 12, 16, 6.0), 16, 12)  # back to the latent grid to read it
    coverage = torch.nn.functional.adaptive_avg_pool2d(masks, 12)
    assert torch.allclose(weights, (1 + 5 * coverage).expand(-1, 16, -1, -1))
    ground = coverage == 0
    assert ground.any() and (coverage == 1).any()  # a latent pixel all ground, another all object
    assert torch.all(weights[ground.expand(-1, 16, -1, -1)] == 1)
    assert torch.all(loss_weights(masks, 12, 16, 1.0) == 1)  # weight 1: the plain loss
