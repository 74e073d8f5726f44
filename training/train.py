"""Train the demo model family on the procedural shapes.

    python -m training.train base --run-dir training-runs/base --out models/Stable-diffusion/demo-shapes

Seeded and resumable: state is saved to `<run-dir>/state.pt` every few minutes (outside git) and a rerun of
the same command continues from it. Only the exported fp16 weights are committed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training import shapes
from training.demo_model import BASE, NOISE_SCHEDULE, TINY, DemoConfig, build_text_encoder, build_unet, build_vae
from training.tokenizer import write_clip_tokenizer

log = logging.getLogger("train")


@dataclass
class RunOptions:
    run_dir: Path
    out_dir: Path
    cfg: DemoConfig = BASE
    batch: int = 64
    vae_steps: int = 1500
    vae_batch: int = 16
    unet_steps: int = 6000
    minutes: float = 120.0  # wall-time cap on the UNet phase, across resumes
    lr: float = 4e-4
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    seed: int = 0
    checkpoint_every_s: float = 300.0
    # A further cosine cycle on top of a finished run (`--more-steps`): its own warm-up, peak and wall budget.
    more_steps: int = 0
    more_minutes: float = 60.0
    # Share of timesteps drawn from the noisier half, where a picture's layout (its position) is decided.
    high_noise: float = 0.0
    # Lowest weight of the x0 error in the loss (0 = plain Min-SNR-5). Epsilon-MSE weighs the x0 error by the
    # SNR, about 0.005 at the noisiest step, so the text hardly steers the layout there: the v1 base learned
    # colour and shape but ignored the position word entirely (position probe 0.00).
    x0_floor: float = 0.0
    # Weights of the token-grounding losses (training/grounding.py): where a word's attention goes, and
    # how much of its region's attention it gets. 0 = denoising only, as the v1 base.
    ground: float = 0.0
    share: float = 0.0
    # The share of the object's attention the position word is pulled up to (a floor: above it, no pull). At 0.5
    # nothing moved in 600 steps; at 0.9 the position word was learned (models/DEMO-MODELS.md). None = the
    # cycle's stored value (0.9 for a new cycle); given on a resume, it replaces the stored one.
    share_target: float | None = None
    held_out: frozenset = field(default_factory=lambda: frozenset(s.key() for s in shapes.held_out_scenes()))


def images_to_tensor(images: list) -> torch.Tensor:
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images]) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def training_samples(step: int, opts: RunOptions) -> list[shapes.Sample]:
    base = (opts.seed * 1_000_003 + step) * opts.batch
    return [shapes.training_sample(base + i, opts.cfg.image_size, opts.held_out) for i in range(opts.batch)]


def training_batch(step: int, opts: RunOptions) -> tuple[torch.Tensor, list[str]]:
    samples = training_samples(step, opts)
    return images_to_tensor([s.image for s in samples]), [s.caption for s in samples]


def masks_to_tensor(samples: list[shapes.Sample]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(s.mask, dtype=np.float32) / 255.0 for s in samples]))[:, None]


def _save_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_vae(opts: RunOptions, state: dict) -> None:
    vae = build_vae(opts.cfg)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    if "vae" in state:
        vae.load_state_dict(state["vae"])
        if "vae_opt" in state:
            opt.load_state_dict(state["vae_opt"])
    step = state.get("vae_step", 0)
    last_save = time.monotonic()
    gen = torch.Generator().manual_seed(opts.seed + step)
    while step < opts.vae_steps:
        x, _ = training_batch(10_000_000 + step, replace(opts, batch=opts.vae_batch))
        posterior = vae.encode(x).latent_dist
        z = posterior.sample(generator=gen)
        recon = vae.decode(z).sample
        # A tiny KL keeps the latent space smooth without blurring the 4x-downsampled shapes.
        loss = F.mse_loss(recon, x) + 0.1 * F.l1_loss(recon, x) + 1e-7 * posterior.kl().mean()
        for group in opt.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / opts.vae_steps)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.info("vae step %d loss %.5f", step, loss.item())
        if time.monotonic() - last_save > opts.checkpoint_every_s or step == opts.vae_steps:
            state.update(vae=vae.state_dict(), vae_opt=opt.state_dict(), vae_step=step)
            _save_state(opts.run_dir / "state.pt", state)
            last_save = time.monotonic()
    vae.eval()
    with torch.no_grad():
        x, _ = training_batch(20_000_000, replace(opts, batch=256))
        std = vae.encode(x).latent_dist.mode().std().item()
    state["scaling_factor"] = 1.0 / std
    state["vae_done"] = True
    state.pop("vae_opt", None)
    _save_state(opts.run_dir / "state.pt", state)
    log.info("vae done, latent std %.4f -> scaling_factor %.4f", std, 1.0 / std)


def vae_round_trip_score(vae, cfg: DemoConfig, count: int = 200) -> dict[str, float]:
    from training.scoring import ASPECTS, score

    totals = dict.fromkeys(ASPECTS, 0)
    with torch.no_grad():
        for i in range(count):
            rng = random.Random(50_000 + i)
            scene = shapes.random_scene(rng)
            sample = shapes.render(scene, cfg.image_size, rng)
            x = images_to_tensor([sample.image])
            out = vae.decode(vae.encode(x).latent_dist.mode()).sample
            img = ((out[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
            from PIL import Image

            for aspect, ok in score(Image.fromarray(img), scene).items():
                totals[aspect] += ok
    return {a: totals[a] / count for a in ASPECTS}


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1.0 - decay)


@dataclass
class _UnetPhase:
    """What the UNet phase trains (UNet and text encoder, with their EMA copies) and with: the frozen VAE."""

    tokenizer: Any
    vae: torch.nn.Module
    scaling_factor: float
    unet: torch.nn.Module
    te: torch.nn.Module
    ema_unet: torch.nn.Module
    ema_te: torch.nn.Module
    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    noise_sched: Any  # diffusers' DDPMScheduler of NOISE_SCHEDULE

    def probe(self, unet: torch.nn.Module, te: torch.nn.Module) -> dict[str, float]:
        return position_probe(unet, te, self.tokenizer, self.vae, self.scaling_factor)


@dataclass(frozen=True)
class _Recipe:
    """The loss settings: those of the --more-steps cycle as stored in the state, else the options'."""

    high_noise: float
    x0_floor: float
    ground: float
    share: float
    share_target: float


@dataclass
class _Schedule:
    """How far the phase (or its --more-steps cycle) has come, by steps or wall time, whichever is further;
    and the learning rate there: a warm-up, then a cosine down to a tenth of the peak."""

    opts: RunOptions
    cycle: dict | None
    elapsed: float  # seconds spent by earlier runs of this phase
    started: float  # time.monotonic() when this run began

    def seconds(self) -> float:
        return self.elapsed + time.monotonic() - self.started

    def progress(self, step: int) -> float:
        seconds = self.seconds()
        opts, cycle = self.opts, self.cycle
        if cycle is None:
            return max(step / opts.unet_steps, seconds / (opts.minutes * 60))
        return max((step - cycle["start"]) / cycle["steps"],
                   (seconds - cycle["seconds_at_start"]) / (cycle["minutes"] * 60))

    def lr(self, step: int) -> float:
        if self.cycle is None:
            peak, warm = self.opts.lr, min(1.0, (step + 1) / 300)
        else:
            peak, warm = self.cycle["lr"], min(1.0, (step + 1 - self.cycle["start"]) / 100)
        cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, self.progress(step))))
        return peak * warm * cosine


def train_unet(opts: RunOptions, state: dict, tokenizer_dir: Path) -> None:
    """The second phase: UNet and text encoder learn to denoise the frozen VAE's latents, from where the state
    left off, until the step or wall budget (of the run, or of its --more-steps cycle); checkpointed as it goes."""
    phase = _load_unet_phase(opts, state, tokenizer_dir)
    step = state.get("unet_step", 0)
    elapsed = state.get("unet_seconds", 0.0)
    started, last_save = time.monotonic(), time.monotonic()
    gen = torch.Generator().manual_seed(opts.seed * 7 + step)
    drop_rng = random.Random(opts.seed * 13 + step)
    cycle = _cycle(opts, state, step, elapsed)
    schedule, recipe = _Schedule(opts, cycle, elapsed, started), _recipe(opts, cycle)
    recorder: contextlib.AbstractContextManager = contextlib.nullcontext([])
    if recipe.ground or recipe.share:
        from training.grounding import recording

        recorder = recording(phase.unet)
    log.info("position probe at step %d: %s", step, phase.probe(phase.ema_unet, phase.ema_te))
    with recorder as maps:
        while schedule.progress(step) < 1.0:
            samples = training_samples(step, opts)
            captions = ["" if drop_rng.random() < opts.caption_dropout else s.caption for s in samples]
            maps.clear()
            loss, grounded, shared = _unet_loss(phase, recipe, samples, captions, maps, gen)
            _optimise(phase, loss, schedule.lr(step), decay=min(opts.ema_decay, (1 + step) / (10 + step)))
            step += 1
            _log_step(phase, state, step, started, loss, grounded, shared)
            if time.monotonic() - last_save > opts.checkpoint_every_s:
                _checkpoint(opts, state, phase, step, schedule.seconds())
                last_save = time.monotonic()
    _checkpoint(opts, state, phase, step, schedule.seconds())
    log.info("unet phase stopped at step %d after %.1f min", step, state["unet_seconds"] / 60)


def _load_unet_phase(opts: RunOptions, state: dict, tokenizer_dir: Path) -> _UnetPhase:
    """The models and optimiser, new or as the state saved them; the VAE trained in the first phase."""
    from diffusers import DDPMScheduler
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    vae = build_vae(opts.cfg)
    vae.load_state_dict(state["vae"])
    vae.eval().requires_grad_(False)
    unet = build_unet(opts.cfg)
    te = build_text_encoder(opts.cfg, len(tokenizer))
    params = list(unet.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-2)
    if "unet" in state:
        unet.load_state_dict(state["unet"])
        te.load_state_dict(state["te"])
        opt.load_state_dict(state["unet_opt"])
    ema_unet, ema_te = copy.deepcopy(unet), copy.deepcopy(te)
    if "ema_unet" in state:
        ema_unet.load_state_dict(state["ema_unet"])
        ema_te.load_state_dict(state["ema_te"])
    noise_sched = DDPMScheduler(**{k: v for k, v in NOISE_SCHEDULE.items() if k != "steps_offset"})
    return _UnetPhase(tokenizer, vae, state["scaling_factor"], unet, te, ema_unet, ema_te, params, opt, noise_sched)


def _cycle(opts: RunOptions, state: dict, step: int, elapsed: float) -> dict | None:
    """The --more-steps cycle: started now (and stored in the state) when asked for, or the one being resumed."""
    cycle = state.get("cycle")
    if opts.more_steps and cycle is None:
        cycle = state["cycle"] = {"start": step, "steps": opts.more_steps, "seconds_at_start": elapsed,
                                  "minutes": opts.more_minutes, "lr": opts.lr, "high_noise": opts.high_noise,
                                  "x0_floor": opts.x0_floor, "ground": opts.ground,
                                  "share": opts.share, "share_target": opts.share_target or 0.9}
    # A resumed cycle keeps its settings, except a share target given again, which replaces the stored one.
    if cycle is not None and opts.share_target is not None:
        cycle["share_target"] = opts.share_target
    return cycle


def _recipe(opts: RunOptions, cycle: dict | None) -> _Recipe:
    if cycle is None:
        return _Recipe(high_noise=opts.high_noise, x0_floor=opts.x0_floor, ground=opts.ground, share=opts.share,
                       share_target=opts.share_target or 0.9)
    return _Recipe(high_noise=cycle["high_noise"], x0_floor=cycle.get("x0_floor", 0.0), ground=cycle.get("ground", 0.0),
                   share=cycle.get("share", 0.0), share_target=cycle.get("share_target", 0.9))


def _unet_loss(phase: _UnetPhase, recipe: _Recipe, samples: list[shapes.Sample], captions: list[str],
               maps: list[torch.Tensor], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch's loss (denoising, plus the grounding losses when asked for), and the two grounding terms."""
    x = images_to_tensor([s.image for s in samples])
    ids = phase.tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        latents = phase.vae.encode(x).latent_dist.sample(generator=gen) * phase.scaling_factor
    noise = torch.randn(latents.shape, generator=gen)
    steps_total = phase.noise_sched.config.num_train_timesteps
    t = torch.randint(0, steps_total, (latents.shape[0],), generator=gen)
    if recipe.high_noise:
        noisy_half = torch.randint(steps_total // 2, steps_total, t.shape, generator=gen)
        t = torch.where(torch.rand(t.shape, generator=gen) < recipe.high_noise, noisy_half, t)
    noisy = phase.noise_sched.add_noise(latents, noise, t)
    pred = phase.unet(noisy, t, phase.te(ids)[0]).sample
    # Min-SNR-5 weighting: converges markedly faster than plain epsilon MSE on small budgets.
    alphas = phase.noise_sched.alphas_cumprod
    snr = alphas[t] / (1 - alphas[t])
    weight = torch.clamp(snr, min=recipe.x0_floor, max=5.0) / snr
    loss = (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()
    grounded = shared = torch.zeros(())
    if recipe.ground or recipe.share:
        from training.grounding import grounding_loss, share_loss, word_regions

        masks, regions = masks_to_tensor(samples), word_regions(phase.tokenizer, captions)
        # Only the position word is asked for a large share: asked of every word, shape and colour
        # took it all (measured), and they are learned without it anyway.
        where = word_regions(phase.tokenizer, captions, words=tuple(shapes.POSITIONS))
        grounded = grounding_loss(maps, masks, regions)
        shared = share_loss(maps, masks, where, target=recipe.share_target)
        loss = loss + recipe.ground * grounded + recipe.share * shared
    return loss, grounded, shared


def _optimise(phase: _UnetPhase, loss: torch.Tensor, lr: float, decay: float) -> None:
    """One optimiser step at learning rate `lr` (gradients clipped to norm 1), then the EMA copies follow."""
    for group in phase.opt.param_groups:
        group["lr"] = lr
    phase.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(phase.params, 1.0)
    phase.opt.step()
    _ema_update(phase.ema_unet, phase.unet, decay)
    _ema_update(phase.ema_te, phase.te, decay)


def _log_step(phase: _UnetPhase, state: dict, step: int, started: float, loss: torch.Tensor,
              grounded: torch.Tensor, shared: torch.Tensor) -> None:
    """The position probe every 250 steps (raw and EMA weights), the losses and speed every 25."""
    if step % 250 == 0:
        log.info("position probe at step %d: raw %s, ema %s", step,
                 phase.probe(phase.unet, phase.te), phase.probe(phase.ema_unet, phase.ema_te))
    if step % 25 == 0:
        log.info("unet step %d loss %.4f grounding %.3f share %.3f (%.2f s/step)", step, loss.item(),
                 grounded.item(), shared.item(),
                 (time.monotonic() - started) / max(1, step - state.get("unet_step_at_start", 0)))


def position_probe(unet, te, tokenizer, vae, scaling_factor: float, count: int = 8, steps: int = 10,
                   cfg: float = 5.0, schedule: dict | None = None) -> dict[str, float]:
    """How far the caption's position word moves the object in pictures the model draws.

    A short deterministic sampling run (DDIM, classifier-free guidance) from fixed noise per caption; the object's
    centre is where the picture is brighter than its median, averaged over seeds: right minus left and bottom minus
    top, as fractions of the side. The data put them 0.44 apart; a model that ignores the position word reads
    about 0 (the v1 base did), so this shows position being learned long before the full evaluation can.
    """
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(**(schedule or NOISE_SCHEDULE), clip_sample=False, set_alpha_to_one=False)
    sched.set_timesteps(steps)
    side = unet.config.sample_size
    start = torch.randn(count, unet.config.in_channels, side, side, generator=torch.Generator().manual_seed(0))
    ids = tokenizer([""] * count, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    centres = {}
    with torch.no_grad():
        uncond = te(ids)[0]
        for where in ("left", "right", "top", "bottom"):
            ids = tokenizer([f"a large white square on a black background, on the {where}"] * count,
                            padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            cond = torch.cat([uncond, te(ids)[0]])
            latents = start * sched.init_noise_sigma
            for t in sched.timesteps:
                eps_u, eps_c = unet(torch.cat([latents, latents]), torch.full((2 * count,), int(t)), cond).sample.chunk(2)
                latents = sched.step(eps_u + cfg * (eps_c - eps_u), t, latents).prev_sample
            bright = vae.decode(latents / scaling_factor).sample.clamp(-1, 1).mean(dim=1)  # (count, H, W)
            weight = (bright - bright.flatten(1).median(dim=1).values[:, None, None]).clamp(min=0) + 1e-6
            ys, xs = torch.meshgrid(torch.arange(weight.shape[-2]), torch.arange(weight.shape[-1]), indexing="ij")
            total = weight.sum(dim=(1, 2))
            centres[where] = (((weight * xs).sum(dim=(1, 2)) / total).mean() / weight.shape[-1],
                              ((weight * ys).sum(dim=(1, 2)) / total).mean() / weight.shape[-2])
    return {"right-left": round(float(centres["right"][0] - centres["left"][0]), 3),
            "bottom-top": round(float(centres["bottom"][1] - centres["top"][1]), 3)}


def _checkpoint(opts: RunOptions, state: dict, phase: _UnetPhase, step: int, seconds: float) -> None:
    state.update(unet=phase.unet.state_dict(), te=phase.te.state_dict(), ema_unet=phase.ema_unet.state_dict(),
                 ema_te=phase.ema_te.state_dict(), unet_opt=phase.opt.state_dict(), unet_step=step,
                 unet_seconds=seconds)
    _save_state(opts.run_dir / "state.pt", state)


def export(opts: RunOptions, state: dict, tokenizer_dir: Path) -> None:
    """Write the EMA weights as a diffusers folder in fp16 (what the app loads, and what we commit); the text
    encoder stays fp32 and the scheduler is Euler a, so plain diffusers' defaults draw what the app draws."""
    from diffusers import EulerAncestralDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    vae = build_vae(opts.cfg)
    vae.load_state_dict(state["vae"])
    vae.register_to_config(scaling_factor=state["scaling_factor"])
    unet = build_unet(opts.cfg)
    unet.load_state_dict(state["ema_unet"])
    te = build_text_encoder(opts.cfg, len(tokenizer))
    te.load_state_dict(state["ema_te"])
    # The PNDM settings are kept in the config: the app's DDIM and PLMS samplers read set_alpha_to_one from it.
    scheduler = EulerAncestralDiscreteScheduler.from_config(
        PNDMScheduler(**NOISE_SCHEDULE, skip_prk_steps=True, set_alpha_to_one=False).config)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16)
    pipe.text_encoder.to(torch.float32)  # transformers loads it in the dtype it is stored in: one dtype with the UNet
    pipe.save_pretrained(opts.out_dir, safe_serialization=True)
    info = {
        "steps": state.get("unet_step"),
        "unet_minutes": round(state.get("unet_seconds", 0) / 60, 1),
        "vae_steps": state.get("vae_step"),
        "batch": opts.batch,
        "image_size": opts.cfg.image_size,
    }
    (opts.out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    write_preview_factors(opts, vae, state["scaling_factor"])
    write_app_defaults(opts)
    log.info("exported to %s: %s", opts.out_dir, info)


# What the app fills in when this model is the default: a prompt it understands, its native size, and the
# sampler settings the evaluation in models/DEMO-MODELS.md was run with.
APP_DEFAULTS = {"prompt": "a large red circle on a blue background, in the center", "negative_prompt": "",
                "sampler": "Euler a", "steps": 20, "cfg_scale": 5.0}


def write_app_defaults(opts: RunOptions) -> None:
    defaults = {**APP_DEFAULTS, "width": opts.cfg.image_size, "height": opts.cfg.image_size}
    (opts.out_dir / "webui-defaults.json").write_text(json.dumps(defaults, indent=2) + "\n")


def write_preview_factors(opts: RunOptions, vae, scaling_factor: float) -> None:
    """Fit the latent->RGB map the live preview uses (see modules/engine/previews.py) for this VAE."""
    from modules.engine.previews import fit_factors

    vae = vae.float().eval()
    x, _ = training_batch(30_000_000, replace(opts, batch=128))
    with torch.no_grad():
        latents = vae.encode(x).latent_dist.mode() * scaling_factor
    small = F.adaptive_avg_pool2d(x, latents.shape[-2:])
    factors, bias = fit_factors(latents, small)
    (opts.out_dir / "latent_rgb.json").write_text(json.dumps({"factors": factors, "bias": bias}) + "\n")


def run_base(opts: RunOptions) -> None:
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(opts.seed)
    tokenizer_dir = opts.run_dir / "tokenizer"
    write_clip_tokenizer(tokenizer_dir, shapes.caption_vocabulary())
    state_path = opts.run_dir / "state.pt"
    state: dict = torch.load(state_path, weights_only=True) if state_path.exists() else {}
    if state:
        log.info("resuming from %s (vae step %s, unet step %s)", state_path, state.get("vae_step"), state.get("unet_step"))
    if not state.get("vae_done"):
        train_vae(opts, state)
    if "vae_score" not in state:
        vae = build_vae(opts.cfg)
        vae.load_state_dict(state["vae"])
        state["vae_score"] = vae_round_trip_score(vae.eval(), opts.cfg)
        _save_state(state_path, state)
    log.info("vae round trip score: %s", state["vae_score"])
    state["unet_step_at_start"] = state.get("unet_step", 0)
    train_unet(opts, state, tokenizer_dir)
    export(opts, state, tokenizer_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("member", choices=["base", "inpainting", "scribble", "night", "pastel"])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", type=Path, default=Path("models/Stable-diffusion/demo-shapes"),
                        help="members: the exported base model folder")
    parser.add_argument("--steps", type=int, default=2000, help="members: planned steps (the cosine anneals within)")
    parser.add_argument("--lr", type=float, default=2e-4, help="members, and the base's --more-steps cycle: peak learning rate")
    parser.add_argument("--baked", type=Path, help="night/pastel: also write a checkpoint with the LoRA merged in")
    parser.add_argument("--rank", type=int, default=8, help="night/pastel: LoRA rank")
    parser.add_argument("--init", type=Path, help="scribble: start from this ControlNet folder (adapting it to a new base)")
    parser.add_argument("--tiny", action="store_true", help="the tiny test configuration")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--vae-batch", type=int, default=16)
    parser.add_argument("--unet-steps", type=int, default=6000)
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--more-steps", type=int, default=0,
                        help="base: one more cosine cycle of this many steps (peak --lr), starting at the run's "
                             "current step (the first cycle's remaining steps are not run)")
    parser.add_argument("--more-minutes", type=float, default=60.0, help="base: wall budget of that cycle")
    parser.add_argument("--high-noise", type=float, default=0.0,
                        help="base: share of timesteps drawn from the noisier half (where layout is decided)")
    parser.add_argument("--x0-floor", type=float, default=0.0,
                        help="base: lowest loss weight of the x0 error (lifts the noisiest timesteps)")
    parser.add_argument("--ground", type=float, default=0.0,
                        help="base: weight of the token-grounding loss on the cross-attention maps")
    parser.add_argument("--share", type=float, default=0.0,
                        help="base: weight of the attention-share loss (words get their region's attention)")
    parser.add_argument("--share-target", type=float,
                        help="base: the position word's share of the object's attention to pull up to (default 0.9; "
                             "given on a resume, it replaces the cycle's)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.member != "base":
        from training import members

        member_opts = members.MemberOptions(run_dir=args.run_dir, out_dir=args.out, base_dir=args.base,
                                            batch=args.batch, steps=args.steps, minutes=args.minutes, lr=args.lr,
                                            seed=args.seed, baked_dir=args.baked, lora_rank=args.rank,
                                            init_dir=args.init)
        train = {"inpainting": members.train_inpainting, "scribble": members.train_scribble,
                 "night": lambda o: members.train_style(o, "night"),
                 "pastel": lambda o: members.train_style(o, "pastel")}[args.member]
        log.info("exported %s: %s", args.member, train(member_opts))
        return
    opts = RunOptions(run_dir=args.run_dir, out_dir=args.out, cfg=TINY if args.tiny else BASE, batch=args.batch,
                      vae_steps=args.vae_steps, vae_batch=args.vae_batch, unet_steps=args.unet_steps, minutes=args.minutes, seed=args.seed,
                      lr=args.lr if args.more_steps else RunOptions.lr, more_steps=args.more_steps,
                      more_minutes=args.more_minutes, high_noise=args.high_noise,
                      x0_floor=args.x0_floor, ground=args.ground,
                      share=args.share, share_target=args.share_target)
    run_base(opts)


if __name__ == "__main__":
    main()
