"""A few steps of the real training code on the tiny configuration: it runs, resumes and exports a
folder that the app's model manager loads and draws with. (The shipped weights are never retrained here.)"""

from __future__ import annotations

import json
from dataclasses import replace

import torch
from diffusers import DDPMScheduler
from transformers import CLIPTokenizer

from training import shapes
from training.demo_model import NOISE_SCHEDULE, TINY, build_text_encoder, build_unet, build_vae
from training.tokenizer import write_clip_tokenizer
from training.train import RunOptions, position_probe, run_base


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
    # Plain diffusers' defaults load it in one dtype with Euler a (an fp16 text encoder beside a float32 UNet
    # failed, and PNDM drew wrong colours): what the model card promises.
    from diffusers import StableDiffusionPipeline

    plain = StableDiffusionPipeline.from_pretrained(out)
    assert type(plain.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert plain.text_encoder.dtype == plain.unet.dtype == torch.float32
    plain("a red circle", num_inference_steps=2, height=16, width=16, guidance_scale=5)

    from modules.core.requests import GenerationRequest
    from modules.engine.generation import generate
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=out.parent, vae_dir=tmp_path / "VAE", cache_file=tmp_path / "c.json",
                           device=cpu_fp32)
    manager.refresh()
    info = manager.resolve(None)
    assert info.name == "demo-tiny" and info.family == "demo"
    result = generate(GenerationRequest(prompt="a red circle", width=16, height=16, steps=3, seed=1), manager, samplers)
    assert result.images[0].size == (16, 16)


def test_more_steps_runs_one_further_cycle_and_resumes_it(tmp_path):
    opts = RunOptions(run_dir=tmp_path / "run", out_dir=tmp_path / "out", cfg=TINY, batch=4, vae_steps=4,
                      vae_batch=4, unet_steps=3)
    run_base(opts)
    # The cycle is recorded in the state on its first run, so a resume keeps its start, length and loss
    # settings even if the command line changes.
    cycle_opts = replace(opts, more_steps=2, high_noise=0.5, x0_floor=0.25, ground=0.05, lr=1e-4)
    run_base(cycle_opts)
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["unet_step"] == 5
    assert state["cycle"]["start"] == 3 and state["cycle"]["steps"] == 2 and state["cycle"]["x0_floor"] == 0.25
    assert state["cycle"]["ground"] == 0.05 and state["cycle"]["share_target"] == 0.9
    run_base(replace(cycle_opts, more_steps=50))
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["unet_step"] == 5


def test_position_probe_reads_a_caption_that_moves_the_object(tmp_path):
    torch.manual_seed(0)
    unet, vae = build_unet(TINY), build_vae(TINY)
    write_clip_tokenizer(tmp_path, shapes.caption_vocabulary())
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path)
    te = build_text_encoder(TINY, len(tokenizer))
    # A random model ignores nothing in particular, but it reads the same for the same inputs...
    assert position_probe(unet, te, tokenizer, vae, 1.0) == position_probe(unet, te, tokenizer, vae, 1.0)

    # ...and a "model" whose prediction puts a bright square where the caption says is read as moving it.
    class Oracle(torch.nn.Module):
        config = unet.config

        def forward(self, sample, t, hidden):
            where = hidden[:, 0, 0]  # the fake text encoder below writes the position here
            side = sample.shape[-1]
            x0 = torch.full_like(sample, -1.0)
            for i, w in enumerate(where.tolist()):
                if w < 0:  # the empty prompt: no object
                    continue
                cx, cy = {0: (0, 1), 1: (2, 1), 2: (1, 0), 3: (1, 2)}[int(w)]
                x0[i, :, cy * side // 3:(cy + 1) * side // 3, cx * side // 3:(cx + 1) * side // 3] = 1.0
            a = DDPMScheduler(**{k: v for k, v in NOISE_SCHEDULE.items() if k != "steps_offset"}).alphas_cumprod[t]
            a = a[:, None, None, None]
            eps = (sample - a.sqrt() * x0) / (1 - a).sqrt()
            return type("Out", (), {"sample": eps})()

    def fake_te(ids):
        places = ["left", "right", "top", "bottom"]
        words = [(tokenizer.decode(row, skip_special_tokens=True).split() or [""])[-1] for row in ids]
        code = torch.tensor([places.index(w) if w in places else -1 for w in words], dtype=torch.float32)
        return (code[:, None, None].expand(-1, 2, 4),)

    class Identity(torch.nn.Module):
        def decode(self, z):
            return type("Out", (), {"sample": z[:, :3]})()

    read = position_probe(Oracle(), fake_te, tokenizer, Identity(), 1.0)
    assert read["right-left"] > 0.3 and read["bottom-top"] > 0.3
