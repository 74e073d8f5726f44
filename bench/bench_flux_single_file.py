"""Loading Flux from single files: ours against bare diffusers, side by side in one run.

A Flux-architecture model with random weights at Flux.1's width (a FluxTransformer2DModel of 3072 wide with 24
heads of 128, as Flux.1, but 1 double and 2 single blocks so this CPU holds it; a CLIP of CLIP-L's width and a T5 of
T5-XXL's width with few layers; Flux's full-size 16-channel VAE), saved once as a diffusers folder in `--workdir`
and exported as the single files users have (transformer in BFL's layout, bf16; CLIP, T5, `ae` files).

    ours: `ModelManager.load` of the transformer file (a fresh manager each round; parts picked from
          models/text_encoder and models/VAE; configs from the folder), placed on the device;
    bare: `FluxTransformer2DModel.from_single_file(file, config=<folder>, subfolder="transformer")`, the encoders by
          transformers' `from_pretrained` of a folder holding the config and the file, the VAE by
          `AutoencoderKL.from_single_file(ae, config=<folder>)`, tokenizers and scheduler from the folder, then
          `FluxPipeline(...)` moved to the device.
Interleaved rounds, medians; both sides' transformer weights are checked equal. Goal (issue 15): ratio <= 1.05.

    HF_HUB_OFFLINE=1 nice .venv/bin/python bench/bench_flux_single_file.py [--rounds 3]
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


def build(models: Path) -> Path:
    """The folder and its single files, written once; returns the folder."""
    from dataclasses import replace

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTokenizer, T5TokenizerFast

    from training import shapes
    from training.export_flux import export_single_files
    from training.flux_model import FLUX_DEMO, build_clip, build_t5, write_t5_tokenizer
    from training.tokenizer import write_clip_tokenizer

    folder = models / "bench-src" / "bench-flux1"
    if (models / "Stable-diffusion" / "bench-flux1.safetensors").is_file():
        return folder
    tok = models / "bench-src" / "tokenizers"
    write_clip_tokenizer(tok / "clip", shapes.caption_vocabulary())
    write_t5_tokenizer(tok / "t5", shapes.caption_vocabulary())
    clip_tok, t5_tok = CLIPTokenizer.from_pretrained(tok / "clip"), T5TokenizerFast.from_pretrained(tok / "t5")
    cfg = replace(FLUX_DEMO, clip_width=768, clip_layers=2, clip_heads=12, t5_width=4096, t5_layers=1, t5_heads=64,
                  t5_ff=10240)
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=2,
                                         attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                                         pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                        layers_per_block=2, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,
                        scaling_factor=0.3611, shift_factor=0.1159)
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True), vae=vae,
                        text_encoder=build_clip(cfg, len(clip_tok)), tokenizer=clip_tok,
                        text_encoder_2=build_t5(cfg, len(t5_tok)), tokenizer_2=t5_tok, transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    export_single_files(folder, models, "bench-flux1")
    return folder


def bare_load(models: Path, folder: Path, dtype: torch.dtype, device: torch.device):
    import tempfile

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

    transformer = FluxTransformer2DModel.from_single_file(
        str(models / "Stable-diffusion" / "bench-flux1.safetensors"), config=str(folder), subfolder="transformer",
        local_files_only=True, dtype=dtype)
    encoders = {}
    with tempfile.TemporaryDirectory() as scratch:
        for sub, cls, file in (("text_encoder", CLIPTextModel, "bench-flux1-clip.safetensors"),
                               ("text_encoder_2", T5EncoderModel, "bench-flux1-t5.safetensors")):
            here = Path(scratch) / sub  # what transformers loads: a folder with config.json and model.safetensors
            here.mkdir()
            (here / "config.json").symlink_to(folder / sub / "config.json")
            (here / "model.safetensors").symlink_to(models / "text_encoder" / file)
            encoders[sub] = cls.from_pretrained(str(here), dtype=dtype, local_files_only=True)
    vae = AutoencoderKL.from_single_file(str(models / "VAE" / "bench-flux1-ae.safetensors"), config=str(folder),
                                         subfolder="vae", local_files_only=True, dtype=dtype)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(str(folder), subfolder="scheduler"), vae=vae,
        text_encoder=encoders["text_encoder"], tokenizer=CLIPTokenizer.from_pretrained(str(folder / "tokenizer")),
        text_encoder_2=encoders["text_encoder_2"], tokenizer_2=T5TokenizerFast.from_pretrained(str(folder / "tokenizer_2")),
        transformer=transformer)
    return pipe.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-flux-single"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import gc

    from modules.engine.devices import choose_device
    from modules.engine.models.manager import ModelManager

    models = args.workdir / "models"
    folder = build(models)
    # The folder serves configs and tokenizers of these small encoders; it sits where the manager finds it.
    link = models / "Stable-diffusion" / "bench-flux1-configs"
    if not link.exists():
        link.symlink_to(folder, target_is_directory=True)
    device = choose_device("auto", "auto")

    def ours():
        manager = ModelManager(checkpoints_dir=models / "Stable-diffusion", vae_dir=models / "VAE",
                               cache_file=args.workdir / "cache.json", device=device, models_in_ram=1,
                               text_encoder_dirs=(models / "text_encoder",))
        manager.refresh()
        return manager.load(manager.resolve("bench-flux1.safetensors")).pipe

    warm = ours()  # first reads (page cache) and the file's hash, cached for the rounds
    check = bare_load(models, folder, device.dtype, device.device)
    a, b = warm.transformer.state_dict(), check.transformer.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "not the same transformer weights"
    del warm, check, a, b
    gc.collect()
    times_ours, times_bare = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        pipe = ours()
        times_ours.append(time.perf_counter() - started)
        del pipe
        gc.collect()
        started = time.perf_counter()
        pipe = bare_load(models, folder, device.dtype, device.device)
        times_bare.append(time.perf_counter() - started)
        del pipe
        gc.collect()
    size = sum(p.stat().st_size for p in (models / "Stable-diffusion").glob("*.safetensors"))
    print(f"device {device.device} {device.dtype}, {torch.get_num_threads()} threads, transformer file "
          f"{size / 2**30:.2f} GiB, {args.rounds} rounds (medians)")
    ratio = statistics.median(times_ours) / statistics.median(times_bare)
    print(f"  load single files / bare from_single_file + parts  {statistics.median(times_ours):7.2f} s / "
          f"{statistics.median(times_bare):7.2f} s = {ratio:5.2f}  (goal <= 1.05)  all ours "
          f"{[round(x, 2) for x in times_ours]} bare {[round(x, 2) for x in times_bare]}")


if __name__ == "__main__":
    main()
