"""Flux benchmark: our generation and loading against bare diffusers, side by side in one run.

A Flux-architecture model with random weights at a size this CPU can run (a FluxTransformer2DModel of 4 double and
8 single blocks, 8 heads of 64; CLIP and T5 encoders and a 16-channel VAE, small), saved once as a diffusers
folder in `--workdir`. Interleaved rounds so a busy CPU slows both sides alike; medians:

(a) txt2img: `generation.generate` through the ModelManager over a bare `FluxPipeline.__call__` on the very same
    pipeline object, same prompt, noise, steps and sampler (Euler). Goal (issue 15): ratio <= 1.03.
(b) load from disk: `ModelManager.load` (a fresh manager each round) over a bare
    `FluxPipeline.from_pretrained(folder, dtype=...)`. Single files against `from_single_file`: bench_flux_single_file.py.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_flux.py [--rounds 3] [--size 256] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def build(folder: Path) -> None:
    """The benchmark model, written once."""
    from dataclasses import replace

    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTokenizer, T5TokenizerFast

    from training import shapes
    from training.flux_model import FLUX_DEMO, build_clip, build_t5, build_vae, write_t5_tokenizer
    from training.tokenizer import write_clip_tokenizer

    if (folder / "model_index.json").is_file():
        return
    tok = folder.parent / "bench-flux-tokenizers"
    write_clip_tokenizer(tok / "clip", shapes.caption_vocabulary())
    write_t5_tokenizer(tok / "t5", shapes.caption_vocabulary())
    clip_tok, t5_tok = CLIPTokenizer.from_pretrained(tok / "clip"), T5TokenizerFast.from_pretrained(tok / "t5")
    cfg = replace(FLUX_DEMO, vae_channels=(32, 64, 128, 128), t5_width=256, clip_width=256)
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=4, num_single_layers=8,
                                         attention_head_dim=64, num_attention_heads=8, joint_attention_dim=256,
                                         pooled_projection_dim=256, guidance_embeds=True, axes_dims_rope=(8, 28, 28))
    vae = build_vae(cfg)
    vae.register_to_config(scaling_factor=0.36, shift_factor=0.12)  # as Flux's ae has both
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True), vae=vae,
                        text_encoder=build_clip(cfg, len(clip_tok)), tokenizer=clip_tok,
                        text_encoder_2=build_t5(cfg, len(t5_tok)), tokenizer_2=t5_tok, transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-flux"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    from dataclasses import replace

    from diffusers import FluxPipeline

    from modules.core.requests import GenerationRequest
    from modules.engine.devices import choose_device
    from modules.engine.generation import generate
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry

    models = args.workdir / "models"
    folder = models / "Stable-diffusion" / "bench-flux"
    build(folder)
    (models / "VAE").mkdir(exist_ok=True)
    device = choose_device("auto", "auto")

    def manager() -> ModelManager:
        made = ModelManager(checkpoints_dir=models / "Stable-diffusion", vae_dir=models / "VAE",
                            cache_file=args.workdir / "cache.json", device=device, models_in_ram=1)
        made.refresh()
        return made

    ours_mgr = manager()
    request = GenerationRequest(prompt="a large red circle on a blue background", checkpoint="bench-flux",
                                sampler="Euler", steps=args.steps, cfg_scale=1.0, width=args.size,
                                height=args.size, seed=5)
    samplers = SamplerRegistry.default()
    generate(replace(request, steps=1), ours_mgr, samplers)  # warm-up: load, first calls
    pipe = ours_mgr.load(ours_mgr.resolve("bench-flux")).pipe
    gen_ours, gen_bare, load_ours, load_bare = [], [], [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        ours_image = generate(request, ours_mgr, samplers).images[0]
        gen_ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        bare_image = pipe(prompt=request.prompt, negative_prompt="", true_cfg_scale=1.0, guidance_scale=3.5,
                          height=args.size, width=args.size, num_inference_steps=args.steps,
                          generator=[torch.Generator().manual_seed(5)]).images[0]
        gen_bare.append(time.perf_counter() - started)
        assert ours_image.tobytes() == bare_image.tobytes(), "the two pictures differ: not the same work"
        started = time.perf_counter()
        fresh = manager()
        fresh.load(fresh.resolve("bench-flux"))
        load_ours.append(time.perf_counter() - started)
        del fresh
        started = time.perf_counter()
        FluxPipeline.from_pretrained(folder, dtype=device.dtype, local_files_only=True).to(device.device)
        load_bare.append(time.perf_counter() - started)
    print(f"device {device.device} {device.dtype}, {torch.get_num_threads()} threads, {args.size}px, "
          f"{args.steps} steps, {args.rounds} rounds (medians)")
    for name, ours, bare, goal in (("txt2img generate / bare pipeline", gen_ours, gen_bare, 1.03),
                                   ("load from disk / bare from_pretrained", load_ours, load_bare, 1.05)):
        ratio = statistics.median(ours) / statistics.median(bare)
        print(f"  {name:40s} {statistics.median(ours):8.3f} s / {statistics.median(bare):8.3f} s = {ratio:5.2f}"
              f"  (goal <= {goal})  all ours {[round(x, 2) for x in ours]} bare {[round(x, 2) for x in bare]}")


if __name__ == "__main__":
    main()
