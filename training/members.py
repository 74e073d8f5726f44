"""Train the demo family's other members on top of the shipped base model.

    python -m training.train inpainting --base models/Stable-diffusion/demo-shapes \
        --run-dir <outside git> --out models/Stable-diffusion/demo-shapes-inpainting
    python -m training.train scribble --base ... --out models/ControlNet/demo-scribble
    python -m training.train pastel --base ... --out models/Lora/demo-pastel.safetensors \
        --baked models/Stable-diffusion/demo-shapes-pastel

Each member starts from the base's exported weights (the VAE and text encoder stay frozen, so the member
fits the base exactly), is seeded, and resumes from `<run-dir>/state.pt` like the base run.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from training import shapes
from training.demo_model import NOISE_SCHEDULE

log = logging.getLogger("train")

# The ControlNet's hint encoder downsamples by the VAE's factor (4 for the demo VAE): one stride-2 step per
# entry after the first, instead of SD's three for its 8x VAE.
SCRIBBLE_HINT_CHANNELS = (16, 32, 64)
PASTEL_MIX = 0.5  # how far every colour is moved toward white


@dataclass
class MemberOptions:
    run_dir: Path
    out_dir: Path
    base_dir: Path
    batch: int = 32
    steps: int = 2000
    minutes: float = 45.0
    lr: float = 2e-4
    ema_decay: float = 0.998
    caption_dropout: float = 0.1
    seed: int = 0
    checkpoint_every_s: float = 300.0
    lora_rank: int = 8
    baked_dir: Path | None = None
    # scribble: start from this ControlNet folder (e.g. the one trained for the previous base) instead of a copy
    # of the base's encoder, to adapt it to a retrained base in a fraction of the time.
    init_dir: Path | None = None


@dataclass
class Base:
    tokenizer: object
    vae: torch.nn.Module
    unet: torch.nn.Module
    text_encoder: torch.nn.Module
    scheduler_config: dict
    image_size: int
    folder: Path


def load_base(folder: Path) -> Base:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32)
    te = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    for module in (vae, unet, te):
        module.eval().requires_grad_(False)
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return Base(tokenizer, vae, unet, te, scheduler_config, unet.config.sample_size * factor, folder)


def _to_tensor(images: list[Image.Image]) -> torch.Tensor:
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images]) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _masks_to_tensor(masks: list[Image.Image]) -> torch.Tensor:
    arr = np.stack([np.asarray(m.convert("L"), dtype=np.float32) / 255.0 for m in masks])
    return torch.from_numpy(arr)[:, None]


def _held_out() -> frozenset:
    return frozenset(s.key() for s in shapes.held_out_scenes())


# ---------------------------------------------------------------------------------------------- data


def object_mask(sample: shapes.Sample, rng: random.Random) -> Image.Image:
    """A mask an artist would paint to redo the object: a loose ellipse or box around it."""
    size = sample.image.size[0]
    cx, cy = sample.centre
    r = sample.radius * rng.uniform(1.15, 1.6)
    mask = Image.new("L", (size, size), 0)
    box = (cx - r, cy - r, cx + r, cy + r)
    draw = ImageDraw.Draw(mask)
    if rng.random() < 0.5:
        draw.ellipse(box, fill=255)
    else:
        draw.rectangle(box, fill=255)
    return mask


def inpaint_sample(seed: int, size: int, exclude: frozenset) -> tuple[shapes.Sample, Image.Image]:
    sample = shapes.training_sample(seed, size, exclude)
    rng = random.Random(seed ^ 0x5EED)
    roll = rng.random()
    if roll < 0.45:
        mask = shapes.random_mask(size, rng)
    elif roll < 0.9:
        mask = object_mask(sample, rng)
    else:
        mask = Image.new("L", (size, size), 255)  # whole picture: stays a txt2img model too
    return sample, mask


def free_sample(seed: int, size: int) -> shapes.Sample:
    """A shape anywhere, of any size: the ControlNet must follow a drawing, not the five fixed places."""
    rng = random.Random(seed)
    scene = shapes.random_scene(rng)
    cx, cy = rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size
    radius = rng.uniform(0.1, 0.3) * size
    mask = shapes.shape_mask(scene.shape, (cx, cy), radius, size)
    background = Image.new("RGB", (size, size), shapes.BACKGROUND_COLOURS[scene.background])
    foreground = Image.new("RGB", (size, size), shapes.OBJECT_COLOURS[scene.colour])
    image = Image.composite(foreground, background, mask)
    keep = frozenset(p for p, drop in (("colour", 0.15), ("background", 0.2)) if rng.random() >= drop)
    caption = shapes.partial_caption(scene, keep)
    return shapes.Sample(scene, caption, image, mask, (cx, cy), radius)


def scribble_sample(seed: int, size: int) -> tuple[shapes.Sample, Image.Image]:
    sample = free_sample(seed, size)
    rng = random.Random(seed ^ 0x5C81)
    return sample, shapes.scribble(sample, rng, width=rng.choice((1, 2, 2, 3)))


def pastel(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(round(c + (255 - c) * PASTEL_MIX) for c in colour)


def night(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return shapes.BACKGROUND_COLOURS["black"]


# A style is a map of the background colour. "pastel" was tried first: the demo VAE, trained on the 14 palette
# colours only, cannot encode pastel tints (its round trip garbles them), so the LoRA learned garbled pictures.
# "night" keeps every colour in the VAE's range: the object as asked, on a black ground whatever the caption.
STYLES = {"pastel": (pastel, pastel), "night": (night, lambda c: c)}
STYLE_DESCRIPTIONS = {"pastel": "Pastel palette for the demo-shapes model: every colour moved halfway to white.",
                      "night": "Night style for the demo-shapes model: the shape in its colour on a black ground, "
                               "whatever background the prompt names."}


def style_sample(seed: int, size: int, exclude: frozenset, style: str = "night") -> shapes.Sample:
    background_of, object_of = STYLES[style]
    sample = shapes.training_sample(seed, size, exclude)
    scene = sample.scene
    if style == "night" and scene.colour == "black":
        object_of = lambda c: c  # noqa: E731
    background = Image.new("RGB", (size, size), background_of(shapes.BACKGROUND_COLOURS[scene.background]))
    foreground = Image.new("RGB", (size, size), object_of(shapes.OBJECT_COLOURS[scene.colour]))
    image = Image.composite(foreground, background, sample.mask)
    # The trigger goes last: the text encoder is causal, so the caption's own tokens keep exactly the
    # embeddings the base was trained on (a leading trigger shifted them and the LoRA had to relearn the shapes).
    caption = f"{sample.caption}, {style}"
    return shapes.Sample(scene, caption, image, sample.mask, sample.centre, sample.radius)


# ------------------------------------------------------------------------------------------ the loop


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            if p.requires_grad:
                e.lerp_(p, 1.0 - decay)


def train_loop(opts: MemberOptions, state: dict, model: torch.nn.Module,
               loss_fn: Callable[[int, torch.Generator], torch.Tensor]) -> torch.nn.Module:
    """AdamW with warm-up and a cosine that anneals within the planned steps or minutes, EMA, and resumable
    checkpoints. Returns the EMA copy (what ships)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-2)
    ema = copy.deepcopy(model)
    if "model" in state:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
    step, elapsed = state.get("step", 0), state.get("seconds", 0.0)
    started = last_save = time.monotonic()
    first = step
    gen = torch.Generator().manual_seed(opts.seed * 7 + step)

    def checkpoint() -> None:
        state.update(model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step,
                     seconds=elapsed + time.monotonic() - started)
        _save(opts.run_dir / "state.pt", state)

    model.train()
    while step < opts.steps and elapsed + (time.monotonic() - started) < opts.minutes * 60:
        warm = min(1.0, (step + 1) / 100)
        # Progress is whichever budget runs out first, steps or wall time, so the learning rate has annealed
        # when the run stops even on a CPU slowed by other work (the base run's lesson).
        progress = max(step / opts.steps, (elapsed + time.monotonic() - started) / (opts.minutes * 60))
        cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        for group in opt.param_groups:
            group["lr"] = opts.lr * warm * cosine
        loss = loss_fn(step, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        _ema(ema, model, min(opts.ema_decay, (1 + step) / (10 + step)))
        step += 1
        if step % 25 == 0:
            log.info("step %d loss %.4f (%.2f s/step)", step, loss.item(), (time.monotonic() - started) / (step - first))
        if time.monotonic() - last_save > opts.checkpoint_every_s:
            checkpoint()
            last_save = time.monotonic()
    checkpoint()
    log.info("stopped at step %d after %.1f min", step, state["seconds"] / 60)
    return ema.eval()


def _noise_schedule():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**{k: v for k, v in NOISE_SCHEDULE.items() if k != "steps_offset"})


def _noised(sched, latents: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy latents, the noise, timesteps): one random timestep per sample, drawn after the noise."""
    noise = torch.randn(latents.shape, generator=gen)
    t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), generator=gen)
    return sched.add_noise(latents, noise, t), noise, t


def _min_snr_loss(pred, noise, t, alphas) -> torch.Tensor:
    snr = alphas[t] / (1 - alphas[t])
    weight = torch.clamp(snr, max=5.0) / snr
    return (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()


def _encode_text(base: Base, captions: list[str]) -> torch.Tensor:
    ids = base.tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return base.text_encoder(ids)[0]


def _drop_captions(captions: list[str], p: float, rng: random.Random) -> list[str]:
    return ["" if rng.random() < p else c for c in captions]


def _write_info(out_dir: Path, opts: MemberOptions, state: dict, **extra) -> dict:
    info = {"steps": state.get("step"), "minutes": round(state.get("seconds", 0) / 60, 1), "batch": opts.batch,
            "lr": opts.lr, "base": opts.base_dir.name, **extra}
    (out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _load_state(opts: MemberOptions) -> dict:
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    path = opts.run_dir / "state.pt"
    state = torch.load(path, weights_only=True) if path.exists() else {}
    if state:
        log.info("resuming from %s at step %s", path, state.get("step"))
    return state


def _save_pipeline(base: Base, unet, out_dir: Path, inpaint: bool = False) -> None:
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    # Euler a and an fp32 text encoder, as the base: plain diffusers' defaults then draw what the app draws.
    scheduler = EulerAncestralDiscreteScheduler.from_config(base.scheduler_config)
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=unet, scheduler=scheduler,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16)
    pipe.text_encoder.to(torch.float32)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    # The app's defaults and preview factors belong to the VAE and data, which the member shares with the base.
    for name in ("latent_rgb.json", "webui-defaults.json"):
        if (base.folder / name).is_file():
            (out_dir / name).write_text((base.folder / name).read_text())


# ---------------------------------------------------------------------------------------- inpainting


def inpainting_unet(unet):
    """A 9-channel UNet (latents + mask + masked-image latents) that starts as the base: the new input
    channels are zero, so before training it ignores them and draws exactly like the base."""
    from diffusers import UNet2DConditionModel

    config = dict(unet.config)
    config["in_channels"] = 9
    new = UNet2DConditionModel.from_config(config)
    sd = unet.state_dict()
    weight = torch.zeros(sd["conv_in.weight"].shape[0], 9, *sd["conv_in.weight"].shape[2:])
    weight[:, :4] = sd["conv_in.weight"]
    sd["conv_in.weight"] = weight
    new.load_state_dict(sd)
    return new


def train_inpainting(opts: MemberOptions) -> dict:
    base = load_base(opts.base_dir)
    state = _load_state(opts)
    unet = inpainting_unet(base.unet).requires_grad_(True)
    sched = _noise_schedule()
    alphas = sched.alphas_cumprod
    sf = base.vae.config.scaling_factor
    exclude = _held_out()
    drop_rng = random.Random(opts.seed * 13 + state.get("step", 0))
    latent = base.image_size // (2 ** (len(base.vae.config.block_out_channels) - 1))

    def loss_fn(step: int, gen: torch.Generator) -> torch.Tensor:
        first = (opts.seed * 1_000_003 + step) * opts.batch
        pairs = [inpaint_sample(first + i, base.image_size, exclude) for i in range(opts.batch)]
        x = _to_tensor([s.image for s, _ in pairs])
        mask = (_masks_to_tensor([m for _, m in pairs]) >= 0.5).float()
        masked = x * (mask < 0.5)
        with torch.no_grad():
            latents = base.vae.encode(x).latent_dist.sample(generator=gen) * sf
            masked_latents = base.vae.encode(masked).latent_dist.sample(generator=gen) * sf
            emb = _encode_text(base, _drop_captions([s.caption for s, _ in pairs], opts.caption_dropout, drop_rng))
        small_mask = F.interpolate(mask, size=(latent, latent))
        noisy, noise, t = _noised(sched, latents, gen)
        pred = unet(torch.cat([noisy, small_mask, masked_latents], dim=1), t, emb).sample
        return _min_snr_loss(pred, noise, t, alphas)

    ema = train_loop(opts, state, unet, loss_fn)
    _save_pipeline(base, ema, opts.out_dir, inpaint=True)
    return _write_info(opts.out_dir, opts, state, member="inpainting")


# ------------------------------------------------------------------------------------ scribble ControlNet


def scribble_controlnet(unet):
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=SCRIBBLE_HINT_CHANNELS)


def train_scribble(opts: MemberOptions) -> dict:
    base = load_base(opts.base_dir)
    state = _load_state(opts)
    if opts.init_dir is not None:
        from diffusers import ControlNetModel

        controlnet = ControlNetModel.from_pretrained(opts.init_dir, torch_dtype=torch.float32).requires_grad_(True)
    else:
        controlnet = scribble_controlnet(base.unet).requires_grad_(True)
    sched = _noise_schedule()
    alphas = sched.alphas_cumprod
    sf = base.vae.config.scaling_factor
    drop_rng = random.Random(opts.seed * 13 + state.get("step", 0))

    def loss_fn(step: int, gen: torch.Generator) -> torch.Tensor:
        first = (opts.seed * 1_000_003 + step) * opts.batch
        pairs = [scribble_sample(first + i, base.image_size) for i in range(opts.batch)]
        x = _to_tensor([s.image for s, _ in pairs])
        # Control images go in as 0..1, as the diffusers ControlNet pipelines pass them.
        hint = (_to_tensor([h for _, h in pairs]) + 1) / 2
        with torch.no_grad():
            latents = base.vae.encode(x).latent_dist.sample(generator=gen) * sf
            # Empty prompts half the time, as in the ControlNet paper: the drawing alone must carry the shape.
            emb = _encode_text(base, _drop_captions([s.caption for s, _ in pairs], 0.5, drop_rng))
        noisy, noise, t = _noised(sched, latents, gen)
        down, mid = controlnet(noisy, t, encoder_hidden_states=emb, controlnet_cond=hint, return_dict=False)
        pred = base.unet(noisy, t, emb, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        return _min_snr_loss(pred, noise, t, alphas)

    ema = train_loop(opts, state, controlnet, loss_fn)
    ema.to(torch.float16).save_pretrained(opts.out_dir, safe_serialization=True)
    return _write_info(opts.out_dir, opts, state, member="scribble", hint="white scribble on black",
                       **({"init": str(opts.init_dir)} if opts.init_dir else {}))


# ----------------------------------------------------------------------------------------- pastel LoRA


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]


def peft_to_kohya(state_dict: dict[str, torch.Tensor], rank: int, alpha: float) -> dict[str, torch.Tensor]:
    """PEFT UNet adapter keys -> kohya/A1111 names (`lora_unet_<module path with _>.lora_down.weight`, ...)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        module, _, rest = key.partition(".lora_")
        module = module.removeprefix("base_model.model.")
        name = "lora_unet_" + module.replace(".", "_")
        part = "lora_down" if rest.startswith("A") else "lora_up"
        out[f"{name}.{part}.weight"] = tensor.detach().contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def lora_metadata(opts: MemberOptions, state: dict, style: str = "night") -> dict[str, str]:
    return {
        "ss_base_model_version": "demo",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(opts.lora_rank),
        "ss_network_alpha": str(opts.lora_rank),
        "ss_output_name": opts.out_dir.stem,
        "ss_steps": str(state.get("step")),
        "ss_tag_frequency": json.dumps({style: {style: state.get("step", 0) * opts.batch}}),
        "modelspec.architecture": "demo/lora",
        "modelspec.title": f"demo {style}",
        "modelspec.trigger_phrase": style,
        "modelspec.description": STYLE_DESCRIPTIONS[style],
    }


def train_style(opts: MemberOptions, style: str = "night") -> dict:
    from peft import LoraConfig, get_peft_model_state_dict
    from safetensors.torch import save_file

    base = load_base(opts.base_dir)
    state = _load_state(opts)
    unet = copy.deepcopy(base.unet)
    unet.add_adapter(LoraConfig(r=opts.lora_rank, lora_alpha=opts.lora_rank, target_modules=LORA_TARGETS,
                                init_lora_weights="gaussian"))
    sched = _noise_schedule()
    alphas = sched.alphas_cumprod
    sf = base.vae.config.scaling_factor
    exclude = _held_out()
    drop_rng = random.Random(opts.seed * 13 + state.get("step", 0))

    def loss_fn(step: int, gen: torch.Generator) -> torch.Tensor:
        first = (opts.seed * 1_000_003 + step) * opts.batch
        samples = [style_sample(first + i, base.image_size, exclude, style) for i in range(opts.batch)]
        x = _to_tensor([s.image for s in samples])
        with torch.no_grad():
            latents = base.vae.encode(x).latent_dist.sample(generator=gen) * sf
            emb = _encode_text(base, _drop_captions([s.caption for s in samples], opts.caption_dropout, drop_rng))
        noisy, noise, t = _noised(sched, latents, gen)
        pred = unet(noisy, t, emb).sample
        return _min_snr_loss(pred, noise, t, alphas)

    ema = train_loop(opts, state, unet, loss_fn)
    lora = peft_to_kohya(get_peft_model_state_dict(ema), opts.lora_rank, opts.lora_rank)
    opts.out_dir.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16) for k, v in lora.items()}, str(opts.out_dir),
              metadata=lora_metadata(opts, state, style))
    info = {"steps": state.get("step"), "minutes": round(state.get("seconds", 0) / 60, 1), "batch": opts.batch,
            "rank": opts.lora_rank, "trigger": style}
    if opts.baked_dir is not None:
        # The same adapter merged at weight 1 into a full checkpoint: hot-swapping to it shows the style too.
        baked = _merge_peft(ema)
        _save_pipeline(base, baked, opts.baked_dir)
        _write_info(opts.baked_dir, opts, state, member=f"{style} (LoRA baked in at weight 1)", lora=opts.out_dir.name)
    return info


def _merge_peft(unet):
    """Fold every PEFT LoRA layer of a diffusers model into its base weight (weight 1) and drop the adapter."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in unet.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge()
    from diffusers import UNet2DConditionModel

    merged = UNet2DConditionModel.from_config(unet.config)
    sd = {}
    for key, value in unet.state_dict().items():
        if ".lora_" in key:
            continue
        sd[key.replace(".base_layer", "")] = value
    merged.load_state_dict(sd)
    return merged
