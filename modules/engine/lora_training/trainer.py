"""The LoRA training loop on a loaded pipeline: a PEFT adapter on the UNet's attention and feed-forward layers
(and, if asked, a LoRA on the text encoders' attention and MLP layers with its own learning rate, as kohya does),
noise-prediction loss (ε or v, as the checkpoint predicts) with min-SNR-γ weighting, an EMA of the adapter's
weights, aspect buckets, sample pictures every N steps, and a state to resume from.

The adapter is added to the cached pipeline's own UNet for the length of the job and deleted afterwards: the
base weights are frozen and never written, so the checkpoint draws bit for bit as before (a test checks it), and
no second copy of an SDXL UNet is needed. Pictures are encoded once (the VAE stays frozen); captions too unless the
text encoder is trained, so a step costs one UNet forward and backward. The text encoder's LoRA lives in forward
hooks on its linear layers, removed when the job ends, so the encoder is left exactly as it was."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from modules.engine.lora_training.buckets import bucket_sizes, fit, nearest_bucket
from modules.engine.lora_training.text_lora import TextLora, text_encoders

TRAIN_ADAPTER = "webui_lora_training"
# kohya's default LoRA targets in the UNet's transformer blocks (attention, projections, feed-forward).
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
TRAINABLE_FAMILIES = ("sd1", "sd2", "sd2-v", "sdxl", "demo")


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 500
    rank: int = 8
    alpha: float = 8.0
    learning_rate: float = 1e-4
    batch_size: int = 1
    resolution: int = 512
    buckets: bool = True  # False: every picture centre-cropped to a square
    ema_decay: float = 0.0  # 0 = no EMA; e.g. 0.99: the saved adapter is the running average of its weights
    min_snr_gamma: float = 5.0  # 0 = plain MSE
    caption_dropout: float = 0.0  # share of steps with an empty caption
    sample_every: int = 0  # 0 = samples only at the end
    sample_prompts: tuple[str, ...] = ()
    sample_steps: int = 20
    sample_cfg: float = 7.0
    checkpoint_every: int = 50
    seed: int = 0
    max_seconds: float = 0.0  # 0 = no limit (an admin's limit: the run ends early and is saved)
    # Weight of output preservation: on each step the adapter is also asked to predict what the base model
    # predicts for the caption without its trigger, so the style comes with the trigger and the model is left
    # alone without it (a LoRA trained only on captioned style pictures otherwise draws the style everywhere).
    preserve: float = 0.0
    # 0 = the text encoder stays frozen; otherwise its LoRA's learning rate (kohya's `text_encoder_lr`). A trigger
    # the tokenizer splits into pieces the encoder barely knows can then mean something.
    text_encoder_lr: float = 0.0


@dataclass(frozen=True)
class Example:
    image: Image.Image
    caption: str
    plain_caption: str | None = None  # the caption without the trigger (for `preserve`); None: not preserved


@dataclass
class Progress:
    step: int
    steps: int
    loss: float
    losses: list[float]
    samples: list[Image.Image] | None = None  # set on the steps that drew samples


@dataclass
class Hooks:
    interrupted: Callable[[], bool] = lambda: False
    on_progress: Callable[[Progress], None] | None = None
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None  # the state to keep for a resume
    resume: dict[str, Any] | None = None  # a state on_checkpoint was given earlier


@dataclass
class Outcome:
    layers: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module path -> (lora_A, lora_B) weights
    steps_done: int
    losses: list[float]
    samples: list[Image.Image] = field(default_factory=list)
    interrupted: bool = False
    stopped_by_time: bool = False
    layers_per_block: int = 2
    text_layers: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # kohya name -> (A, B)


@dataclass
class _Encoded:
    bucket: tuple[int, int]
    mean: torch.Tensor  # latent distribution of the picture (the VAE is frozen: encoded once)
    std: torch.Tensor
    caption: str
    plain_caption: str | None


def size_step(pipe: Any) -> int:
    """Picture sizes the UNet takes: the VAE's factor times the UNet's total downsampling."""
    vae_factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    return vae_factor * 2 ** (len(pipe.unet.config.down_block_types) - 1)


def _encode_examples(pipe: Any, examples: list[Example], settings: TrainSettings) -> list[_Encoded]:
    step = size_step(pipe)
    resolution = max(step, settings.resolution // step * step)
    buckets = bucket_sizes(resolution, step) if settings.buckets else [(resolution, resolution)]
    vae = pipe.vae
    scale = vae.config.scaling_factor
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    out = []
    with torch.no_grad():
        for example in examples:
            bucket = nearest_bucket(example.image.size, buckets)
            pixels = torch.from_numpy(_array(fit(example.image, bucket))).to(vae.device, vae.dtype)
            dist = vae.encode(pixels[None]).latent_dist
            out.append(_Encoded(bucket, ((dist.mean - shift) * scale).float(), (dist.std * scale).float(),
                                example.caption, example.plain_caption))
    return out


def _array(image: Image.Image):
    import numpy as np

    return (np.asarray(image, dtype=np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy()


def _encode_captions(pipe: Any, captions: set[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """caption -> (token embeddings, pooled embedding for SDXL): the pipeline's own prompt encoding."""
    device = pipe.unet.device
    out = {}
    with torch.no_grad():
        for caption in captions:
            encoded = pipe.encode_prompt(prompt=caption, device=device, num_images_per_prompt=1,
                                         do_classifier_free_guidance=False)
            pooled = encoded[2] if len(encoded) == 4 else None
            out[caption] = (encoded[0], pooled)
    return out


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up, then a cosine down to 10%: the rate has annealed when the run ends."""
    warm = min(100, max(1, steps // 10))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _loss(pipe: Any, noise_scheduler: Any, batch: list[_Encoded], texts: dict, settings: TrainSettings,
          gen: torch.Generator, dropout: list[bool], dtype: torch.dtype, text_lora: TextLora | None = None
          ) -> torch.Tensor:
    device = pipe.unet.device
    mean = torch.cat([e.mean for e in batch])
    std = torch.cat([e.std for e in batch])
    latents = mean + std * torch.randn(mean.shape, generator=gen).to(device)
    noise = torch.randn(latents.shape, generator=gen).to(device)
    t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),), generator=gen).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, t)
    captions = ["" if drop else e.caption for e, drop in zip(batch, dropout)]
    pred = _predict(pipe, noisy, t, _texts(pipe, texts, captions, text_lora), batch[0].bucket, dtype)
    v_prediction = noise_scheduler.config.prediction_type == "v_prediction"
    target = noise_scheduler.get_velocity(latents, noise, t) if v_prediction else noise
    per_sample = F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2, 3))
    if settings.min_snr_gamma > 0:
        # Min-SNR-γ (Hang et al. 2023): the low-noise steps, whose error is tiny but numerous, stop dominating.
        alphas = noise_scheduler.alphas_cumprod.to(device)[t]
        snr = alphas / (1 - alphas)
        clipped = torch.clamp(snr, max=settings.min_snr_gamma)
        per_sample = per_sample * (clipped / (snr + 1) if v_prediction else clipped / snr)
    loss = per_sample.mean()
    plain = [e.plain_caption for e in batch]
    if settings.preserve > 0 and all(c is not None for c in plain):
        pipe.unet.disable_adapters()
        if text_lora is not None:
            text_lora.enabled = False
        try:
            with torch.no_grad():
                base = _predict(pipe, noisy, t, _texts(pipe, texts, plain, text_lora), batch[0].bucket, dtype)
        finally:
            pipe.unet.enable_adapters()
            if text_lora is not None:
                text_lora.enabled = True
        adapted = _predict(pipe, noisy, t, _texts(pipe, texts, plain, text_lora), batch[0].bucket, dtype)
        loss = loss + settings.preserve * F.mse_loss(adapted, base)
    return loss


def _texts(pipe: Any, texts: dict, captions: list[str], text_lora: TextLora | None
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(token embeddings, SDXL's pooled embedding) of the captions: encoded once when the text encoder is frozen,
    on every step (with gradients to its LoRA) when it is trained."""
    if text_lora is None:
        pooled = [texts[c][1] for c in captions]
        return torch.cat([texts[c][0] for c in captions]), None if pooled[0] is None else torch.cat(pooled)
    encoded = pipe.encode_prompt(prompt=captions, device=pipe.unet.device, num_images_per_prompt=1,
                                 do_classifier_free_guidance=False)
    return encoded[0], encoded[2] if len(encoded) == 4 else None


def _predict(pipe: Any, noisy: torch.Tensor, t: torch.Tensor, text: tuple[torch.Tensor, torch.Tensor | None],
             bucket: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    embeds, pooled = text
    kwargs: dict[str, Any] = {}
    if pooled is not None:  # SDXL: pooled text and the size/crop conditioning
        h, w = bucket[1], bucket[0]
        kwargs["added_cond_kwargs"] = {
            "text_embeds": pooled.to(dtype),
            "time_ids": torch.tensor([[h, w, 0, 0, h, w]] * len(embeds), device=noisy.device, dtype=dtype)}
    return pipe.unet(noisy.to(dtype), t, encoder_hidden_states=embeds.to(dtype), **kwargs).sample.float()


def _batch(encoded: list[_Encoded], size: int, rng: random.Random) -> list[_Encoded]:
    """One bucket per step (a batch must share a shape), chosen in proportion to its pictures."""
    bucket = rng.choice(encoded).bucket
    members = [e for e in encoded if e.bucket == bucket]
    rng.shuffle(members)
    return [members[i % len(members)] for i in range(size)]


def draw_samples(pipe: Any, prompts: tuple[str, ...], settings: TrainSettings) -> list[Image.Image]:
    """Pictures of the prompts with the adapter as it is now (Euler a, fixed seeds: comparable over the run)."""
    if not prompts:
        return []
    from diffusers import EulerAncestralDiscreteScheduler

    components = {**pipe.components, "scheduler": EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)}
    sampler = type(pipe)(**components)
    sampler.set_progress_bar_config(disable=True)
    step = size_step(pipe)
    side = max(step, settings.resolution // step * step)
    was_training = pipe.unet.training
    pipe.unet.eval()
    try:
        return [sampler(prompt, num_inference_steps=settings.sample_steps, guidance_scale=settings.sample_cfg,
                        width=side, height=side, generator=torch.Generator().manual_seed(settings.seed + n)).images[0]
                for n, prompt in enumerate(prompts)]
    finally:
        pipe.unet.train(was_training)


def _attach(unet: Any, settings: TrainSettings) -> list[tuple[str, torch.nn.Parameter]]:
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=settings.rank, lora_alpha=settings.alpha, target_modules=TARGETS),
                     adapter_name=TRAIN_ADAPTER)
    unet.set_adapter(TRAIN_ADAPTER)
    unet.enable_adapters()  # the app's generation adapters may have left the PEFT layers switched off
    params = [(n, p) for n, p in unet.named_parameters() if f".{TRAIN_ADAPTER}." in n]
    for _, param in params:
        param.data = param.data.float()  # fp32 adapter on an fp16/bf16 base: small updates are not rounded away
        param.requires_grad_(True)
    return params


def _detach(unet: Any) -> None:
    unet.delete_adapters(TRAIN_ADAPTER)
    if getattr(unet, "peft_config", None):  # the generation adapters stay, switched off as the app keeps them
        unet.disable_adapters()
    unet.eval()


def _layers(unet: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from peft.tuners.lora.layer import LoraLayer

    return {name: (module.lora_A[TRAIN_ADAPTER].weight.detach().clone(),
                   module.lora_B[TRAIN_ADAPTER].weight.detach().clone())
            for name, module in unet.named_modules()
            if isinstance(module, LoraLayer) and TRAIN_ADAPTER in module.lora_A}


def train_lora(pipe: Any, examples: list[Example], settings: TrainSettings, hooks: Hooks | None = None) -> Outcome:
    """Train an adapter on `examples`; returns its layers (EMA if asked), the losses and the last samples."""
    from diffusers import DDPMScheduler

    hooks = hooks or Hooks()
    if not examples:
        raise ValueError("LoRA training needs at least one picture.")
    if pipe.unet.device.type == "cpu" and pipe.unet.dtype != torch.float32:
        # A CPU run trains a float32 copy: the cached pipeline is not touched at all, and the loop runs in one
        # dtype. Speed is no argument either way (bench/bench_lora_training.py: bf16 1.1x slower with 1 thread,
        # 0.37x with 2, on a busy machine); the copy costs RAM (4.3 GB for SD 1.5), which a CPU host has.
        pipe = float32_copy(pipe)
    unet = pipe.unet
    dtype = unet.dtype
    encoded = _encode_examples(pipe, examples, settings)
    texts = _encode_captions(pipe, {e.caption for e in examples} | {""} |
                             {e.plain_caption for e in examples if e.plain_caption is not None})
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    params = _attach(unet, settings)
    text_lora = None
    cuda = unet.device.type == "cuda"
    try:
        if settings.text_encoder_lr > 0:
            text_lora = TextLora(text_encoders(pipe), settings.rank, settings.alpha)
        if cuda:
            unet.enable_gradient_checkpointing()  # activations, not weights, fill a GPU when training SDXL
        groups = [{"params": [p for _, p in params], "lr": settings.learning_rate, "base_lr": settings.learning_rate}]
        if text_lora is not None:
            groups.append({"params": [p for _, p in text_lora.named_parameters()], "lr": settings.text_encoder_lr,
                           "base_lr": settings.text_encoder_lr})
            params = params + [(f"text:{n}", p) for n, p in text_lora.named_parameters()]
        optimizer = torch.optim.AdamW(groups, weight_decay=1e-2)
        scaler = torch.amp.GradScaler("cuda", enabled=cuda and dtype == torch.float16)
        ema = {n: p.detach().clone() for n, p in params} if settings.ema_decay > 0 else {}
        step, losses = 0, []
        if hooks.resume:
            step, losses = _restore(hooks.resume, params, ema, optimizer)
        unet.train()

        def state() -> dict[str, Any]:
            return {"step": step, "losses": list(losses), "adapter": {n: p.detach().cpu() for n, p in params},
                    "ema": {n: t.cpu() for n, t in ema.items()}, "optimizer": optimizer.state_dict()}

        started = time.monotonic()
        interrupted = stopped_by_time = False
        samples: list[Image.Image] = []
        while step < settings.steps:
            if hooks.interrupted():
                interrupted = True
                break
            if settings.max_seconds and time.monotonic() - started > settings.max_seconds:
                stopped_by_time = True
                break
            # Seeded per step, so a resumed run draws the same pictures, noise and timesteps it would have.
            rng = random.Random(settings.seed * 1_000_003 + step)
            gen = torch.Generator().manual_seed(settings.seed * 7_919 + step)
            batch = _batch(encoded, settings.batch_size, rng)
            dropout = [rng.random() < settings.caption_dropout for _ in batch]
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * _lr_factor(step, settings.steps)
            loss = _loss(pipe, noise_scheduler, batch, texts, settings, gen, dropout, dtype, text_lora)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            scaler.step(optimizer)
            scaler.update()
            if ema:
                decay = min(settings.ema_decay, (1 + step) / (10 + step))  # warm-up: early weights fade fast
                with torch.no_grad():
                    for name, param in params:
                        ema[name].lerp_(param.detach(), 1.0 - decay)
            step += 1
            losses.append(float(loss.detach()))
            drawn = None
            if settings.sample_every and step % settings.sample_every == 0 and step < settings.steps:
                drawn = samples = _with_ema(pipe, params, ema, settings)
            if hooks.on_checkpoint and settings.checkpoint_every and step % settings.checkpoint_every == 0:
                hooks.on_checkpoint(state())
            if hooks.on_progress:
                hooks.on_progress(Progress(step, settings.steps, losses[-1], losses, drawn))
        if interrupted:
            if hooks.on_checkpoint:
                hooks.on_checkpoint(state())
            return Outcome({}, step, losses, samples, interrupted=True)
        if ema:
            with torch.no_grad():
                for name, param in params:
                    param.copy_(ema[name])
        samples = draw_samples(pipe, settings.sample_prompts, settings)
        if hooks.on_progress and samples:
            hooks.on_progress(Progress(step, settings.steps, losses[-1] if losses else 0.0, losses, samples))
        return Outcome(_layers(unet), step, losses, samples, stopped_by_time=stopped_by_time,
                       layers_per_block=_layers_per_block(unet),
                       text_layers=text_lora.weights() if text_lora is not None else {})
    finally:
        if cuda:
            unet.disable_gradient_checkpointing()
        if text_lora is not None:
            text_lora.remove()
        _detach(unet)


def float32_copy(pipe: Any) -> Any:
    """The pipeline with float32 copies of its models (tokenizers and scheduler shared)."""
    import copy

    components = {name: copy.deepcopy(value).float() if isinstance(value, torch.nn.Module) else value
                  for name, value in pipe.components.items()}
    clone = type(pipe)(**components)
    clone.set_progress_bar_config(disable=True)
    return clone


def _layers_per_block(unet: Any) -> int:
    value = unet.config.layers_per_block
    return int(value if isinstance(value, int) else value[0])


def _with_ema(pipe: Any, params: list, ema: dict, settings: TrainSettings) -> list[Image.Image]:
    """Samples drawn with the weights that would be saved now (the EMA ones when EMA is on)."""
    if not ema:
        return draw_samples(pipe, settings.sample_prompts, settings)
    with torch.no_grad():
        live = {name: param.detach().clone() for name, param in params}
        for name, param in params:
            param.copy_(ema[name])
        try:
            return draw_samples(pipe, settings.sample_prompts, settings)
        finally:
            for name, param in params:
                param.copy_(live[name])


def _restore(state: dict[str, Any], params: list, ema: dict, optimizer: Any) -> tuple[int, list[float]]:
    names = {n for n, _ in params}
    if set(state.get("adapter", {})) != names:
        raise ValueError("the saved training state does not fit this adapter (rank or targets changed)")
    with torch.no_grad():
        for name, param in params:
            param.copy_(state["adapter"][name])
        for name, value in state.get("ema", {}).items():
            if name in ema:
                ema[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), [float(x) for x in state.get("losses", [])]
