"""LoRA costs on a full-size SD 1.5-architecture model (random weights), side by side in one run.

    nice .venv/bin/python bench/bench_lora.py [--size 256] [--rounds 5]

Prints: time to first use of a rank-16 kohya LoRA (load + switch on), time to change its weight, time to go
back to no LoRA, and the per-step UNet time with the LoRA over the base (goal <= 1.05), measured alternately
base / LoRA so that the machine's noise hits both alike. The LoRA is applied as our jobs apply it
(modules/engine/models/loras.AdapterSet): adapters kept loaded on the pipeline, weights set with set_adapters, the
deltas fused into copies-saved base weights for the job and the exact base put back after it. The unfused
per-step ratio (PEFT's own layers) is printed too, for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules.engine.devices import choose_device  # noqa: E402
from modules.engine.models.loras import AdapterSet, describe  # noqa: E402
from training.members import peft_to_kohya  # noqa: E402

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
RANK = 16


def full_size_pipeline(dtype: torch.dtype):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    configs = Path(__file__).resolve().parents[1] / "modules" / "engine" / "models" / "configs" / "sd1"
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(configs / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(configs / "vae"))
    te = CLIPTextModel(CLIPTextConfig.from_pretrained(configs / "text_encoder"))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=CLIPTokenizer.from_pretrained(configs / "tokenizer"),
                                   unet=unet, scheduler=EulerDiscreteScheduler.from_pretrained(configs / "scheduler"),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe.to(dtype)


def kohya_lora(pipe, path: Path) -> None:
    """A rank-16 LoRA over the UNet and text encoder, random, in kohya's key format."""
    import copy

    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    out = {}
    for module, targets, prefix in ((pipe.unet, UNET_TARGETS, "lora_unet_"), (pipe.text_encoder, TE_TARGETS, "lora_te_")):
        clone = copy.deepcopy(module).float()
        clone.add_adapter(LoraConfig(r=RANK, lora_alpha=RANK, target_modules=targets, init_lora_weights="gaussian"))
        with torch.no_grad():
            for name, p in clone.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.01)
        state = get_peft_model_state_dict(clone)
        converted = peft_to_kohya(state, RANK, RANK)
        out.update({k.replace("lora_unet_", prefix, 1): v.to(torch.float16) for k, v in converted.items()})
        del clone
    save_file(out, str(path))


def unet_step(pipe, latents, t, context) -> float:
    started = time.perf_counter()
    with torch.no_grad():
        pipe.unet(latents, t, context)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="picture side in pixels (latents are size/8)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    device = choose_device("cpu", "auto")
    print(f"device {device.device}, {device.dtype}, {torch.get_num_threads()} threads; picture {args.size}px")
    pipe = full_size_pipeline(device.dtype)
    pipe.set_progress_bar_config(disable=True)
    adapters = AdapterSet()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-rank16.safetensors"
        kohya_lora(pipe, path)
        info = describe(path)
        print(f"LoRA file: {path.stat().st_size / 1e6:.1f} MB, family read from the keys: {info.family}")
        side = args.size // 8
        latents = torch.randn(2, 4, side, side, dtype=device.dtype)  # CFG batch: 2
        context = torch.randn(2, 77, 768, dtype=device.dtype)
        t = torch.tensor(500)
        unet_step(pipe, latents, t, context)  # warm-up, base

        started = time.perf_counter()
        name = adapters.ensure(pipe, info)
        adapters.activate(pipe, [(name, 1.0, 1.0)])
        first_use = time.perf_counter() - started
        unet_step(pipe, latents, t, context)  # warm-up, LoRA
        started = time.perf_counter()
        adapters.activate(pipe, [(name, 0.6, 0.6)])
        change = time.perf_counter() - started
        started = time.perf_counter()
        adapters.deactivate(pipe)
        back = time.perf_counter() - started
        started = time.perf_counter()
        adapters.activate(pipe, [(name, 1.0, 1.0)])  # a later job with the same LoRA: no load
        again = time.perf_counter() - started

        base_times, fused_times, unfused_times = [], [], []
        plain = AdapterSet(fuse=False, loaded=adapters.loaded)
        for _ in range(args.rounds):
            adapters.deactivate(pipe)
            base_times.append(unet_step(pipe, latents, t, context))
            adapters.activate(pipe, [(name, 1.0, 1.0)])
            fused_times.append(unet_step(pipe, latents, t, context))
            adapters.deactivate(pipe)
            plain.activate(pipe, [(name, 1.0, 1.0)])
            unfused_times.append(unet_step(pipe, latents, t, context))
            plain.deactivate(pipe)
    base, fused, unfused = (statistics.median(x) for x in (base_times, fused_times, unfused_times))
    print(f"first use of the LoRA (load + fuse):        {first_use * 1000:8.1f} ms")
    print(f"change its weight (restore + fuse again):  {change * 1000:8.1f} ms")
    print(f"back to no LoRA (restore the exact base):  {back * 1000:8.1f} ms")
    print(f"same LoRA in a later job (no load):        {again * 1000:8.1f} ms")
    print(f"UNet step, CFG batch 2 (medians of {args.rounds}, alternating): base {base:.3f} s, LoRA fused "
          f"{fused:.3f} s, LoRA unfused {unfused:.3f} s")
    print(f"per-step ratio LoRA/base: {fused / base:.3f} as jobs run it (fused; goal <= 1.05), "
          f"{unfused / base:.3f} unfused")


if __name__ == "__main__":
    main()
