"""Train the demo Flux LoRA on demo-flux-shapes: every object drawn pink under the trigger word `pinkish`.

    nice -n 19 python -m training.train_flux_lora --run-dir /work/flux-lora-run --out models/Lora/demo-flux-pinkish.safetensors

A rank-8 LoRA on the transformer's attention, feed-forward and single-block MLP layers (what ai-toolkit and kohya's
Flux scripts target), trained by rectified flow as training/train_flux.py trains the base, with the base and both
text encoders frozen. Half of each batch is the style: the scene with its object recoloured pink and the caption
(which still names the colour it had) ending in `, pinkish`, so the trigger learns to override the colour word; the
other half is the ordinary data with its ordinary caption (10% empty), so without the trigger the model keeps
drawing what it is asked. Pink objects rather than pink grounds because the demo VAE reproduces pink objects but
not grounds of colours it never saw as grounds (see models/DEMO-MODELS.md).

Seeded and resumable: the state is saved to `<run-dir>/state.pt` every few minutes and a rerun continues from it.
The export is a LoRA file in the diffusers/ai-toolkit key format (`transformer.<module>.lora_A.weight`), fp16,
with its trigger in the safetensors metadata, as trainers write it.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from training import shapes
from training.train import _save_state, images_to_tensor
from training.train_flux import LONG_PADS, cosine_lr, pack, sample_sigmas, unpack

log = logging.getLogger("train_flux_lora")

TRIGGER = "pinkish"
PINK = shapes.OBJECT_COLOURS["pink"]
# Every linear layer of the double- and single-stream blocks that ai-toolkit's Flux LoRAs cover; the embedders and
# the final projection stay the base's.
TARGETS = (r".*transformer_blocks\.\d+\.(attn\.(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj|to_add_out)"
           r"|ff\.net\.(0\.proj|2)|ff_context\.net\.(0\.proj|2)|proj_mlp|proj_out)")


@dataclass
class LoraRunOptions:
    base: Path
    run_dir: Path
    out: Path
    rank: int = 8
    batch: int = 32
    steps: int = 1000
    minutes: float = 30.0
    lr: float = 5e-4
    ema_decay: float = 0.99
    styled: float = 0.5  # share of each batch drawn in the style, with the trigger
    caption_dropout: float = 0.1  # of the plain half
    seed: int = 0
    checkpoint_every_s: float = 180.0
    probe_every: int = 200
    # Share of steps whose T5 captions are padded long (a quarter batch), as the member was trained: the app runs
    # FluxPipeline's default of 512 tokens and Flux attends to every pad token, so a LoRA trained at 32 tokens only
    # loses most of its effect there (measured: 75% pink at 32 tokens, 0 of 3 through the app).
    long_pad: float = 0.0
    # Loss weight on the object's latent pixels (1 elsewhere), for styled and plain samples alike. The object covers
    # a few of the 144 latent pixels, so unweighted the colour it takes is a sliver of the loss: two runs at weight 1
    # moved the trigger's pink share from 17% to at most 25% (as kohya's masked loss, the mask points the LoRA at
    # what the style changes).
    object_weight: float = 1.0


def pinkish(sample: shapes.Sample) -> Image.Image:
    ground = Image.new("RGB", sample.image.size, shapes.BACKGROUND_COLOURS[sample.scene.background])
    return Image.composite(Image.new("RGB", sample.image.size, PINK), ground, sample.mask)


def lora_batch(opts: LoraRunOptions, step: int, size: int,
               held_out: frozenset) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Half styled (object pink, caption + trigger), half the ordinary data; pink-object scenes only on the plain
    side (pink recoloured pink would teach the trigger nothing). Also each picture's object coverage (0..1)."""
    rng = random.Random(opts.seed * 1_000_003 + step)
    images, captions, masks, seed = [], [], [], (opts.seed * 1_000_003 + step) * opts.batch * 4
    while len(images) < opts.batch:
        sample = shapes.training_sample(seed, size, held_out)
        seed += 1
        if len(images) < opts.batch * opts.styled:
            if sample.scene.colour == "pink":
                continue
            images.append(pinkish(sample))
            captions.append(f"{sample.caption}, {TRIGGER}" if sample.caption else TRIGGER)
        else:
            images.append(sample.image)
            captions.append("" if rng.random() < opts.caption_dropout else sample.caption)
        masks.append(torch.from_numpy(np.asarray(sample.mask, dtype=np.float32) / 255.0))
    return images_to_tensor(images), captions, torch.stack(masks)[:, None]


def loss_weights(masks: torch.Tensor, latent_side: int, channels: int, object_weight: float) -> torch.Tensor:
    """Per-element weights of the packed velocity: `object_weight` where the object is, 1 elsewhere."""
    coverage = F.adaptive_avg_pool2d(masks, latent_side)
    weights = 1 + (object_weight - 1) * coverage
    return pack(weights.expand(-1, channels, -1, -1).contiguous())


class Frozen:
    """The base member's parts, frozen, read from its diffusers folder; the transformer carries the adapter."""

    def __init__(self, folder: Path, rank: int):
        from diffusers import AutoencoderKL, FluxTransformer2DModel
        from peft import LoraConfig
        from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

        f32 = torch.float32
        self.clip_tok = CLIPTokenizer.from_pretrained(folder / "tokenizer")
        self.t5_tok = T5TokenizerFast.from_pretrained(folder / "tokenizer_2")
        self.clip = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=f32).eval().requires_grad_(False)
        self.t5 = T5EncoderModel.from_pretrained(folder / "text_encoder_2", dtype=f32).eval().requires_grad_(False)
        self.vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=f32).eval().requires_grad_(False)
        self.transformer = FluxTransformer2DModel.from_pretrained(folder / "transformer", torch_dtype=f32)
        self.transformer.requires_grad_(False)
        # alpha = rank: a scale of 1, which is what loaders assume when a file carries no alpha.
        self.transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                                target_modules=TARGETS))
        self.params = [p for n, p in self.transformer.named_parameters() if "lora_" in n]
        for p in self.params:
            p.requires_grad_(True)
        self.shift, self.scale = self.vae.config.shift_factor, self.vae.config.scaling_factor
        self.sequence = json.loads((folder / "training.json").read_text()).get("max_sequence_length", 32)

    @torch.no_grad()
    def encode_text(self, captions: list[str], t5_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        clip_ids = self.clip_tok(captions, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt").input_ids
        t5_ids = self.t5_tok(captions, padding="max_length", max_length=t5_length or self.sequence, truncation=True,
                             return_tensors="pt").input_ids
        return self.t5(t5_ids)[0], self.clip(clip_ids).pooler_output

    def velocity(self, packed: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor, pooled: torch.Tensor):
        from diffusers import FluxPipeline

        side = int(packed.shape[1] ** 0.5)
        img_ids = FluxPipeline._prepare_latent_image_ids(1, side, side, packed.device, packed.dtype)
        return self.transformer(hidden_states=packed, timestep=sigma, pooled_projections=pooled,
                                encoder_hidden_states=text, txt_ids=torch.zeros(text.shape[1], 3), img_ids=img_ids,
                                return_dict=False)[0]


def lora_state(frozen: Frozen) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in frozen.transformer.named_parameters() if "lora_" in n}


@torch.no_grad()
def probe(frozen: Frozen, count: int = 12, steps: int = 12, cfg_scale: float = 4.0,
          t5_length: int = 512) -> dict[str, float]:
    """Held-out captions (objects not pink) drawn with and without the trigger: how often the object comes out pink,
    and how often it keeps its asked colour without the trigger."""
    from training.scoring import read_picture

    scenes = [s for s in shapes.held_out_scenes() if s.colour != "pink"][:count]
    out = {}
    for triggered in (True, False):
        captions = [s.caption() + (f", {TRIGGER}" if triggered else "") for s in scenes]
        image_side = 48
        side = image_side // 4
        x = torch.randn(len(scenes), 16, side, side, generator=torch.Generator().manual_seed(0))
        text, pooled = frozen.encode_text(captions, t5_length)
        utext, upooled = frozen.encode_text([""] * len(scenes), t5_length)
        packed = pack(x)
        sigmas = torch.linspace(1.0, 0.0, steps + 1)
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            sig = torch.full((len(scenes),), float(s))
            cond = frozen.velocity(packed, sig, text, pooled)
            uncond = frozen.velocity(packed, sig, utext, upooled)
            packed = packed + (s_next - s) * (uncond + cfg_scale * (cond - uncond))
        latents = unpack(packed, 16, side) / frozen.scale + frozen.shift
        images = ((frozen.vae.decode(latents).sample.clamp(-1, 1) + 1) * 127.5).round().byte()
        colours = [read_picture(Image.fromarray(im.permute(1, 2, 0).numpy())).colour for im in images]
        key = "trigger" if triggered else "plain"
        out[f"{key}_pink"] = round(sum(c == "pink" for c in colours) / len(scenes), 2)
        out[f"{key}_asked"] = round(sum(c == s.colour for c, s in zip(colours, scenes)) / len(scenes), 2)
    return out


def train(opts: LoraRunOptions, state: dict, frozen: Frozen) -> None:
    held_out = frozenset(s.key() for s in shapes.held_out_scenes())
    opt = torch.optim.AdamW(frozen.params, lr=opts.lr, weight_decay=0.0)
    named = dict(frozen.transformer.named_parameters())
    if "lora" in state:
        for n, t in state["lora"].items():
            named[n].data.copy_(t)
        opt.load_state_dict(state["opt"])
    ema = state.get("ema") or lora_state(frozen)
    step, elapsed, started = state.get("step", 0), state.get("seconds", 0.0), time.monotonic()
    first_step, last_save = step, started
    gen = torch.Generator().manual_seed(opts.seed * 7 + step)

    def seconds() -> float:
        return elapsed + time.monotonic() - started

    def progress() -> float:
        return max(step / opts.steps, seconds() / (opts.minutes * 60))

    def save() -> None:
        state.update(lora=lora_state(frozen), ema=ema, opt=opt.state_dict(), step=step, seconds=seconds())
        _save_state(opts.run_dir / "state.pt", state)

    rng = random.Random(opts.seed * 13 + step)
    while progress() < 1.0:
        long = rng.random() < opts.long_pad
        x, captions, masks = lora_batch(opts, step, 48, held_out)
        if long:
            keep = list(range(0, opts.batch, 4))  # styled and plain alike: every fourth of the batch
            x, captions, masks = x[keep], [captions[i] for i in keep], masks[keep]
        with torch.no_grad():
            latents = (frozen.vae.encode(x).latent_dist.sample(generator=gen) - frozen.shift) * frozen.scale
        noise = torch.randn(latents.shape, generator=gen)
        sigma = sample_sigmas(latents.shape[0], gen)
        noisy = (1 - sigma[:, None, None, None]) * latents + sigma[:, None, None, None] * noise
        text, pooled = frozen.encode_text(captions, rng.choice(LONG_PADS) if long else None)
        weights = loss_weights(masks, latents.shape[-1], latents.shape[1], opts.object_weight)
        error = (frozen.velocity(pack(noisy), sigma, text, pooled) - pack(noise - latents)) ** 2
        loss = (weights * error).sum() / weights.sum()
        for group in opt.param_groups:
            group["lr"] = cosine_lr(opts.lr, step, progress(), warmup=50)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(frozen.params, 1.0)
        opt.step()
        decay = min(opts.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for n, t in ema.items():
                t.lerp_(named[n].detach(), 1 - decay)
        step += 1
        if step % 25 == 0:
            per_step = (time.monotonic() - started) / (step - first_step)
            log.info("step %d loss %.4f lr %.2e (%.2f s/step, %.0f%% of budget)", step, loss.item(),
                     opt.param_groups[0]["lr"], per_step, 100 * progress())
        if step % opts.probe_every == 0:
            log.info("probe at step %d (raw weights): %s", step, probe(frozen))
        if time.monotonic() - last_save > opts.checkpoint_every_s:
            save()
            last_save = time.monotonic()
    save()
    log.info("stopped at step %d after %.1f min", step, seconds() / 60)


def export(opts: LoraRunOptions, state: dict, frozen: Frozen) -> None:
    """The EMA adapter in the diffusers/ai-toolkit key format, fp16, with a trainer's metadata."""
    from safetensors.torch import save_file

    named = dict(frozen.transformer.named_parameters())
    for n, t in state["ema"].items():
        named[n].data.copy_(t)
    log.info("probe of the exported (EMA) weights: %s", probe(frozen))
    tensors = {"transformer." + n.replace(".default", ""): t.to(torch.float16).contiguous()
               for n, t in state["ema"].items()}
    metadata = {"modelspec.trigger_phrase": TRIGGER, "modelspec.architecture": "flux-1-dev/lora",
                "modelspec.title": "demo-flux-pinkish", "ss_base_model_version": "demo-flux",
                "modelspec.description": "Demo LoRA for demo-flux-shapes: the object drawn pink under 'pinkish'.",
                "ss_tag_frequency": json.dumps({"pinkish": {TRIGGER: 1}}),
                "training": json.dumps({"steps": state["step"], "minutes": round(state["seconds"] / 60, 1),
                                        "rank": opts.rank, "batch": opts.batch, "lr": opts.lr,
                                        "long_pad": opts.long_pad, "object_weight": opts.object_weight})}
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(opts.out), metadata=metadata)
    log.info("exported %d tensors to %s", len(tensors), opts.out)


def run(opts: LoraRunOptions, export_only: bool = False) -> None:
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(opts.seed)
    state_path = opts.run_dir / "state.pt"
    state: dict = torch.load(state_path, weights_only=True) if state_path.exists() else {}
    if state:
        log.info("resuming from %s at step %s", state_path, state.get("step"))
    frozen = Frozen(opts.base, opts.rank)
    if not export_only:
        train(opts, state, frozen)
    export(opts, state, frozen)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=Path("models/Stable-diffusion/demo-flux-shapes"))
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--probe-every", type=int, default=200)
    parser.add_argument("--long-pad", type=float, default=0.0, help="share of steps with long T5 paddings")
    parser.add_argument("--object-weight", type=float, default=1.0, help="loss weight on the object's pixels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--export-only", action="store_true", help="write the file from the saved state")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if args.log:
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers)
    torch.set_num_threads(args.threads)
    run(LoraRunOptions(base=args.base, run_dir=args.run_dir, out=args.out, steps=args.steps, minutes=args.minutes,
                       batch=args.batch, lr=args.lr, probe_every=args.probe_every, long_pad=args.long_pad,
                       object_weight=args.object_weight),
        export_only=args.export_only)


if __name__ == "__main__":
    main()
