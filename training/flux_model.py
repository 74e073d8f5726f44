"""Architecture of the Flux demo member: real diffusers/transformers Flux components with small configs.

The same shapes as Flux.1 (a `FluxTransformer2DModel` of double- and single-stream blocks over 2x2-packed
16-channel latents, a CLIP text encoder giving the pooled vector, a T5 encoder giving the token sequence, a
16-channel `AutoencoderKL` without quant convs as in BFL's `ae.safetensors`), shrunk so it trains on a CPU.
Both tokenizers are trained locally over the caption vocabulary (no download): CLIP's BPE format
(training/tokenizer.py) and a T5-format Unigram vocabulary (`write_t5_tokenizer`), sentencepiece-free.
`FLUX_TINY` is the same shrunk further, for tests of the training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FluxDemoConfig:
    image_size: int = 48
    vae_channels: tuple[int, ...] = (32, 64, 64)  # a 4x VAE: 48 px -> 12x12 latents -> 6x6 packed tokens
    latent_channels: int = 16
    double_layers: int = 3
    single_layers: int = 3
    heads: int = 4
    head_dim: int = 32
    rope_axes: tuple[int, int, int] = (8, 12, 12)  # sums to head_dim, as (16, 56, 56) does for Flux's 128
    clip_width: int = 128
    clip_layers: int = 2
    clip_heads: int = 4
    t5_width: int = 128
    t5_layers: int = 2
    t5_heads: int = 4
    t5_ff: int = 256
    max_sequence_length: int = 32  # T5 tokens the captions are padded to in training (they need ~15)

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae_channels) - 1)


FLUX_DEMO = FluxDemoConfig()
FLUX_TINY = FluxDemoConfig(image_size=16, vae_channels=(8, 16), double_layers=1, single_layers=1, heads=2,
                           head_dim=8, rope_axes=(2, 2, 4), clip_width=32, clip_layers=1, clip_heads=2,
                           t5_width=32, t5_layers=1, t5_heads=2, t5_ff=64, max_sequence_length=16)

# Schnell's scheduler settings (no dynamic shifting, shift 1): at 6x6 tokens Flux-dev's resolution rule would
# shift by ~1.6, which the demo was not trained for.
FLOW_SCHEDULE = {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": False}


def build_vae(cfg: FluxDemoConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=cfg.vae_channels, layers_per_block=1, latent_channels=cfg.latent_channels,
        norm_num_groups=min(32, cfg.vae_channels[0]), sample_size=cfg.image_size,
        # Flux's autoencoder has no 1x1 quant convs; without them the weights map 1:1 onto BFL's ae layout.
        use_quant_conv=False, use_post_quant_conv=False,
    )


def build_transformer(cfg: FluxDemoConfig):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1, in_channels=cfg.latent_channels * 4, num_layers=cfg.double_layers,
        num_single_layers=cfg.single_layers, attention_head_dim=cfg.head_dim, num_attention_heads=cfg.heads,
        joint_attention_dim=cfg.t5_width, pooled_projection_dim=cfg.clip_width,
        # Schnell-like: no distilled-guidance embedding; classifier-free guidance is learned by caption dropout.
        guidance_embeds=False, axes_dims_rope=cfg.rope_axes,
    )


def build_clip(cfg: FluxDemoConfig, vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=cfg.clip_width, intermediate_size=cfg.clip_width * 4,
        num_hidden_layers=cfg.clip_layers, num_attention_heads=cfg.clip_heads, max_position_embeddings=77,
        projection_dim=cfg.clip_width, hidden_act="quick_gelu",
        # The BPE tokenizer's <|startoftext|>/<|endoftext|> are the last two ids; the pooled vector is taken at
        # the first <|endoftext|>.
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
    ))


def build_t5(cfg: FluxDemoConfig, vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=cfg.t5_width, d_kv=cfg.t5_width // cfg.t5_heads, d_ff=cfg.t5_ff,
        num_layers=cfg.t5_layers, num_heads=cfg.t5_heads, relative_attention_num_buckets=32,
        relative_attention_max_distance=128, dropout_rate=0.0,
        feed_forward_proj="gated-gelu",  # T5 v1.1, as t5xxl
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, is_encoder_decoder=False, use_cache=False,
    ))


# Characters every text can fall back to (Unigram picks whole caption words when it can: they score higher).
_FALLBACK = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-()/&"


def write_t5_tokenizer(folder: Path, words: list[str]) -> int:
    """A T5-format tokenizer (<pad>=0, </s>=1, <unk>=2, '▁'-prefixed Unigram pieces) over the caption words, saved
    as tokenizer.json, which transformers' T5TokenizerFast loads; returns the vocabulary size."""
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(f"▁{w.lower()}", -1.0) for w in words]
    pieces += [(c, -5.0) for c in _FALLBACK] + [(f"▁{c}", -4.0) for c in _FALLBACK]
    tokenizer = T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    return len(tokenizer)
