"""Train the Flux demo member on the procedural shapes: a 16-channel VAE, then a tiny FluxTransformer2DModel with its
CLIP and T5 text encoders, by rectified flow (flow matching).

    nice -n 19 python -m training.train_flux --run-dir /work/flux-demo-run --out models/Stable-diffusion/demo-flux-shapes

Seeded and resumable, as training/train.py: the state is saved to `<run-dir>/state.pt` every few minutes (outside
git) and a rerun of the same command continues from it. Both phases have a step budget and a wall budget (summed
across resumes); the learning rate follows a cosine that anneals by whichever runs out first. The export is a
diffusers folder that `FluxPipeline.from_pretrained` loads; training/export_flux.py writes the single files.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from training import shapes
from training.flux_model import (FLOW_SCHEDULE, FLUX_DEMO, FLUX_TINY, FluxDemoConfig, build_clip, build_t5,
                                 build_transformer, build_vae, write_t5_tokenizer)
from training.tokenizer import write_clip_tokenizer
from training.train import _ema_update, _save_state, images_to_tensor, training_samples

log = logging.getLogger("train_flux")

# Longer T5 paddings drawn now and then, so the model also draws right at diffusers' default of 512 tokens (Flux has
# no attention mask: every pad token is attended to).
LONG_PADS = (77, 128, 256, 512)


@dataclass
class FluxRunOptions:
    run_dir: Path
    out_dir: Path
    cfg: FluxDemoConfig = FLUX_DEMO
    batch: int = 32
    vae_steps: int = 1300
    vae_batch: int = 16
    vae_minutes: float = 25.0
    steps: int = 6000
    minutes: float = 120.0  # wall budget of the transformer phase, across resumes
    lr: float = 3e-4
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    long_pad: float = 0.1  # share of steps padded to one of LONG_PADS
    seed: int = 0
    checkpoint_every_s: float = 300.0
    probe_every: int = 500

    @property
    def held_out(self) -> frozenset:
        return frozenset(s.key() for s in shapes.held_out_scenes())

    def as_train_options(self, batch: int):
        """What training.train's sample helpers read (seed, batch, picture size, held-out scenes)."""
        from training.demo_model import DemoConfig
        from training.train import RunOptions

        return RunOptions(run_dir=self.run_dir, out_dir=self.out_dir, cfg=DemoConfig(image_size=self.cfg.image_size),
                          batch=batch, seed=self.seed)


def cosine_lr(peak: float, step: int, progress: float, warmup: int) -> float:
    """A warm-up, then a cosine down to a tenth of the peak as `progress` (of steps or of wall time) goes to 1."""
    return peak * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _batch(opts: FluxRunOptions, step: int, batch: int, offset: int = 0) -> tuple[torch.Tensor, list[str]]:
    samples = training_samples(offset + step, opts.as_train_options(batch))
    return images_to_tensor([s.image for s in samples]), [s.caption for s in samples]


def train_vae(opts: FluxRunOptions, state: dict) -> None:
    """The first phase, the SD demo VAE's recipe with 16 latent channels; then the latents' mean and spread give
    the VAE's shift_factor and scaling_factor (as Flux's ae has both)."""
    vae = build_vae(opts.cfg)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    if "vae" in state:
        vae.load_state_dict(state["vae"])
        opt.load_state_dict(state["vae_opt"])
    step, elapsed, started = state.get("vae_step", 0), state.get("vae_seconds", 0.0), time.monotonic()
    last_save = started
    gen = torch.Generator().manual_seed(opts.seed + step)

    def progress() -> float:
        return max(step / opts.vae_steps, (elapsed + time.monotonic() - started) / (opts.vae_minutes * 60))

    while progress() < 1.0:
        x, _ = _batch(opts, step, opts.vae_batch, offset=10_000_000)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=gen)).sample
        loss = F.mse_loss(recon, x) + 0.1 * F.l1_loss(recon, x) + 1e-7 * posterior.kl().mean()
        for group in opt.param_groups:
            group["lr"] = cosine_lr(1e-3, step, progress(), warmup=100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.info("vae step %d loss %.5f (%.0f%% of budget)", step, loss.item(), 100 * progress())
        if time.monotonic() - last_save > opts.checkpoint_every_s:
            state.update(vae=vae.state_dict(), vae_opt=opt.state_dict(), vae_step=step,
                         vae_seconds=elapsed + time.monotonic() - started)
            _save_state(opts.run_dir / "state.pt", state)
            last_save = time.monotonic()
    vae.eval()
    with torch.no_grad():
        x, _ = _batch(opts, 0, 256, offset=20_000_000)
        z = vae.encode(x).latent_dist.mode()
    state.update(vae=vae.state_dict(), vae_step=step, vae_seconds=elapsed + time.monotonic() - started,
                 shift_factor=z.mean().item(), scaling_factor=1.0 / z.std().item(), vae_done=True)
    state.pop("vae_opt", None)
    _save_state(opts.run_dir / "state.pt", state)
    log.info("vae done at step %d: shift_factor %.4f scaling_factor %.4f", step, state["shift_factor"],
             state["scaling_factor"])


@dataclass
class _Phase:
    """What the second phase trains (transformer, CLIP, T5 and their EMA copies) and with (the frozen VAE)."""

    cfg: FluxDemoConfig
    clip_tok: Any
    t5_tok: Any
    vae: torch.nn.Module
    shift: float
    scale: float
    models: dict[str, torch.nn.Module]  # transformer, clip, t5
    ema: dict[str, torch.nn.Module]
    opt: torch.optim.Optimizer

    def encode_text(self, captions: list[str], models: dict[str, torch.nn.Module],
                    t5_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """T5's token sequence and CLIP's pooled vector, tokenised exactly as FluxPipeline does."""
        clip_ids = self.clip_tok(captions, padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt").input_ids
        t5_ids = self.t5_tok(captions, padding="max_length", max_length=t5_length, truncation=True,
                             return_tensors="pt").input_ids
        pooled = models["clip"](clip_ids, output_hidden_states=False).pooler_output
        return models["t5"](t5_ids)[0], pooled

    def velocity(self, models: dict[str, torch.nn.Module], packed: torch.Tensor, sigma: torch.Tensor,
                 text: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        from diffusers import FluxPipeline

        side = self.cfg.image_size // self.cfg.vae_factor // 2
        img_ids = FluxPipeline._prepare_latent_image_ids(1, side, side, packed.device, packed.dtype)
        txt_ids = torch.zeros(text.shape[1], 3)
        return models["transformer"](hidden_states=packed, timestep=sigma, pooled_projections=pooled,
                                     encoder_hidden_states=text, txt_ids=txt_ids, img_ids=img_ids,
                                     return_dict=False)[0]


def pack(latents: torch.Tensor) -> torch.Tensor:
    from diffusers import FluxPipeline

    b, c, h, w = latents.shape
    return FluxPipeline._pack_latents(latents, b, c, h, w)


def unpack(packed: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    b = packed.shape[0]
    return packed.view(b, side // 2, side // 2, channels, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, channels, side, side)


def _load_phase(opts: FluxRunOptions, state: dict) -> _Phase:
    from transformers import CLIPTokenizer, T5TokenizerFast

    clip_tok = CLIPTokenizer.from_pretrained(opts.run_dir / "tokenizer")
    t5_tok = T5TokenizerFast.from_pretrained(opts.run_dir / "tokenizer_2")
    vae = build_vae(opts.cfg)
    vae.load_state_dict(state["vae"])
    vae.eval().requires_grad_(False)
    models = {"transformer": build_transformer(opts.cfg), "clip": build_clip(opts.cfg, len(clip_tok)),
              "t5": build_t5(opts.cfg, len(t5_tok))}
    params = [p for m in models.values() for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-2)
    if "models" in state:
        for name, model in models.items():
            model.load_state_dict(state["models"][name])
        opt.load_state_dict(state["opt"])
    ema = {name: copy.deepcopy(m).requires_grad_(False) for name, m in models.items()}
    if "ema" in state:
        for name, model in ema.items():
            model.load_state_dict(state["ema"][name])
    return _Phase(opts.cfg, clip_tok, t5_tok, vae, state["shift_factor"], state["scaling_factor"], models, ema, opt)


def sample_sigmas(count: int, gen: torch.Generator) -> torch.Tensor:
    """Noise levels for training: mostly logit-normal (as SD3 and Flux train; the middle levels, where the picture
    is decided, get most steps), a fifth uniform so the ends are not starved."""
    logit_normal = torch.sigmoid(torch.randn(count, generator=gen))
    uniform = torch.rand(count, generator=gen)
    return torch.where(torch.rand(count, generator=gen) < 0.2, uniform, logit_normal)


def flow_loss(phase: _Phase, x: torch.Tensor, captions: list[str], t5_length: int, gen: torch.Generator) -> torch.Tensor:
    """Rectified flow: x_t = (1 - s) x_0 + s noise, and the transformer predicts noise - x_0 (diffusers' Flux and
    FlowMatchEulerDiscreteScheduler use this sign: x_{s'} = x_s + (s' - s) v)."""
    with torch.no_grad():
        latents = (phase.vae.encode(x).latent_dist.sample(generator=gen) - phase.shift) * phase.scale
    noise = torch.randn(latents.shape, generator=gen)
    sigma = sample_sigmas(latents.shape[0], gen)
    noisy = (1 - sigma[:, None, None, None]) * latents + sigma[:, None, None, None] * noise
    text, pooled = phase.encode_text(captions, phase.models, t5_length)
    pred = phase.velocity(phase.models, pack(noisy), sigma, text, pooled)
    return F.mse_loss(pred, pack(noise - latents))


@torch.no_grad()
def probe(phase: _Phase, count: int = 12, steps: int = 12, cfg_scale: float = 4.0) -> dict[str, float]:
    """Draw held-out captions with the EMA weights (Euler, true CFG) and score them as the evaluation does: a cheap
    look at how the run is going."""
    from PIL import Image

    from training.scoring import ASPECTS, score

    scenes = shapes.held_out_scenes()[:count]
    side = phase.cfg.image_size // phase.cfg.vae_factor
    x = torch.randn(count, phase.cfg.latent_channels, side, side, generator=torch.Generator().manual_seed(0))
    text, pooled = phase.encode_text([s.caption() for s in scenes], phase.ema, phase.cfg.max_sequence_length)
    utext, upooled = phase.encode_text([""] * count, phase.ema, phase.cfg.max_sequence_length)
    packed = pack(x)
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        sig = torch.full((count,), float(s))
        cond = phase.velocity(phase.ema, packed, sig, text, pooled)
        uncond = phase.velocity(phase.ema, packed, sig, utext, upooled)
        packed = packed + (s_next - s) * (uncond + cfg_scale * (cond - uncond))
    latents = unpack(packed, phase.cfg.latent_channels, side) / phase.scale + phase.shift
    images = ((phase.vae.decode(latents).sample.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    totals = dict.fromkeys(ASPECTS, 0)
    for image, scene in zip(images, scenes):
        for aspect, ok in score(Image.fromarray(image), scene).items():
            totals[aspect] += ok
    return {a: round(totals[a] / count, 2) for a in ASPECTS}


def _checkpoint(opts: FluxRunOptions, state: dict, phase: _Phase, step: int, seconds: float) -> None:
    state.update(models={n: m.state_dict() for n, m in phase.models.items()},
                 ema={n: m.state_dict() for n, m in phase.ema.items()}, opt=phase.opt.state_dict(), step=step,
                 seconds=seconds)
    _save_state(opts.run_dir / "state.pt", state)


def train_transformer(opts: FluxRunOptions, state: dict) -> None:
    """The second phase: transformer and both text encoders learn together, from where the state left off."""
    phase = _load_phase(opts, state)
    step, elapsed, started = state.get("step", 0), state.get("seconds", 0.0), time.monotonic()
    first_step, last_save = step, started
    gen = torch.Generator().manual_seed(opts.seed * 7 + step)
    rng = random.Random(opts.seed * 13 + step)
    params = [p for m in phase.models.values() for p in m.parameters()]

    def seconds() -> float:
        return elapsed + time.monotonic() - started

    def progress() -> float:
        return max(step / opts.steps, seconds() / (opts.minutes * 60))

    while progress() < 1.0:
        long = rng.random() < opts.long_pad
        t5_length = rng.choice(LONG_PADS) if long else opts.cfg.max_sequence_length
        # A quarter batch when padded long: a step at 512 tokens costs ~13x one at 32 (measured, batch 32).
        x, captions = _batch(opts, step, opts.batch // 4 if long else opts.batch)
        captions = ["" if rng.random() < opts.caption_dropout else c for c in captions]
        loss = flow_loss(phase, x, captions, t5_length, gen)
        for group in phase.opt.param_groups:
            group["lr"] = cosine_lr(opts.lr, step, progress(), warmup=300)
        phase.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        phase.opt.step()
        decay = min(opts.ema_decay, (1 + step) / (10 + step))
        for name in phase.models:
            _ema_update(phase.ema[name], phase.models[name], decay)
        step += 1
        if step % 25 == 0:
            per_step = (time.monotonic() - started) / (step - first_step)
            eta = min((opts.steps - step) * per_step, opts.minutes * 60 - seconds()) / 60
            log.info("step %d loss %.4f lr %.2e (%.2f s/step, %.0f%% of budget, ETA %.0f min)", step, loss.item(),
                     phase.opt.param_groups[0]["lr"], per_step, 100 * progress(), max(0.0, eta))
        if step % opts.probe_every == 0:
            log.info("probe at step %d (EMA, 12 held-out captions): %s", step, probe(phase))
        if time.monotonic() - last_save > opts.checkpoint_every_s:
            _checkpoint(opts, state, phase, step, seconds())
            last_save = time.monotonic()
    _checkpoint(opts, state, phase, step, seconds())
    log.info("transformer phase stopped at step %d after %.1f min; probe %s", step, seconds() / 60, probe(phase))


def export(opts: FluxRunOptions, state: dict) -> None:
    """Write the EMA weights as a diffusers folder (FluxPipeline.from_pretrained loads it). The transformer is stored
    in bf16 as Flux ships; the small VAE and text encoders in fp32 (transformers loads a model in its stored dtype)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    phase = _load_phase(opts, state)
    vae = phase.vae
    vae.register_to_config(scaling_factor=state["scaling_factor"], shift_factor=state["shift_factor"])
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**FLOW_SCHEDULE), vae=vae,
                        text_encoder=phase.ema["clip"], tokenizer=phase.clip_tok, text_encoder_2=phase.ema["t5"],
                        tokenizer_2=phase.t5_tok, transformer=phase.ema["transformer"].to(torch.bfloat16))
    pipe.save_pretrained(opts.out_dir, safe_serialization=True)
    info = {"steps": state.get("step"), "minutes": round(state.get("seconds", 0) / 60, 1),
            "vae_steps": state.get("vae_step"), "batch": opts.batch, "image_size": opts.cfg.image_size,
            "max_sequence_length": opts.cfg.max_sequence_length}
    (opts.out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    defaults = {"prompt": "a large red circle on a blue background, in the center", "negative_prompt": "",
                "sampler": "Euler", "scheduler": "Simple", "steps": 20, "cfg_scale": 4.0,
                "width": opts.cfg.image_size, "height": opts.cfg.image_size}
    (opts.out_dir / "webui-defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")
    log.info("exported to %s: %s", opts.out_dir, info)


def run(opts: FluxRunOptions) -> None:
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(opts.seed)
    words = shapes.caption_vocabulary()
    write_clip_tokenizer(opts.run_dir / "tokenizer", words)
    write_t5_tokenizer(opts.run_dir / "tokenizer_2", words)
    state_path = opts.run_dir / "state.pt"
    state: dict = torch.load(state_path, weights_only=True) if state_path.exists() else {}
    if state:
        log.info("resuming from %s (vae step %s, step %s)", state_path, state.get("vae_step"), state.get("step"))
    if not state.get("vae_done"):
        train_vae(opts, state)
    if "vae_score" not in state:  # what the VAE alone keeps of a scene: a ceiling on the model's scores
        from training.train import vae_round_trip_score
        from training.demo_model import DemoConfig

        vae = build_vae(opts.cfg)
        vae.load_state_dict(state["vae"])
        state["vae_score"] = vae_round_trip_score(vae.eval(), DemoConfig(image_size=opts.cfg.image_size))
        _save_state(state_path, state)
    log.info("vae round trip score: %s", state["vae_score"])
    train_transformer(opts, state)
    export(opts, state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="the tiny test configuration")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vae-steps", type=int, default=1300)
    parser.add_argument("--vae-minutes", type=float, default=25.0)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--probe-every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", type=Path, help="also append the log to this file")
    args = parser.parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if args.log:
        handlers.append(logging.FileHandler(args.log))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers)
    torch.set_num_threads(args.threads)
    opts = FluxRunOptions(run_dir=args.run_dir, out_dir=args.out, cfg=FLUX_TINY if args.tiny else FLUX_DEMO,
                          batch=args.batch, vae_steps=args.vae_steps, vae_minutes=args.vae_minutes, steps=args.steps,
                          minutes=args.minutes, lr=args.lr, seed=args.seed, probe_every=args.probe_every)
    run(opts)


if __name__ == "__main__":
    main()
