"""Architecture of the demo model family: real diffusers SD components with small configs.

The sizes come from a feasibility run on a 2-core CPU (see models/DEMO-MODELS.md): a VAE with a 4x
factor (48 px pictures -> 12x12 latents) so small shapes survive the round trip, and a ~7M-parameter UNet.
`TINY` is the same family shrunk further, for tests of the training code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoConfig:
    image_size: int = 48
    vae_channels: tuple[int, ...] = (32, 64, 64)
    latent_channels: int = 4
    unet_channels: tuple[int, ...] = (64, 128, 128)
    unet_layers_per_block: int = 1
    attention_head_dim: int = 8
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae_channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.vae_factor


BASE = DemoConfig()
TINY = DemoConfig(image_size=16, vae_channels=(8, 16), unet_channels=(16, 32), attention_head_dim=2,
                  text_width=32, text_layers=1, text_heads=2)

# SD's noise schedule, so every sampler and the usual scheduler configs behave as with real checkpoints.
NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
}


def build_vae(cfg: DemoConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=cfg.vae_channels,
        layers_per_block=1,
        latent_channels=cfg.latent_channels,
        norm_num_groups=min(32, cfg.vae_channels[0]),
        sample_size=cfg.image_size,
    )


def build_unet(cfg: DemoConfig, in_channels: int = 4):
    from diffusers import UNet2DConditionModel

    n = len(cfg.unet_channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=cfg.latent_size,
        in_channels=in_channels,
        out_channels=cfg.latent_channels,
        block_out_channels=cfg.unet_channels,
        layers_per_block=cfg.unet_layers_per_block,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=cfg.text_width,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=min(32, cfg.unet_channels[0]),
    )


def build_text_encoder(cfg: DemoConfig, vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.text_width,
        intermediate_size=cfg.text_width * 4,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        max_position_embeddings=77,
        projection_dim=cfg.text_width,
        hidden_act="quick_gelu",
        # The tokenizer's <|startoftext|>/<|endoftext|> ids are at the end of our small vocabulary.
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    return CLIPTextModel(config)
