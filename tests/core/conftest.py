"""Tiny models for img2img/inpaint tests: a 9-channel inpainting checkpoint and an in-memory SDXL."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import torch


def save_tiny_inpainting_pipeline(folder: Path, seed: int = 2) -> Path:
    """A diffusers folder like tiny-a's, but with a 9-channel UNet (latents + mask + masked-picture latents)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionInpaintPipeline
    from transformers import CLIPTokenizer

    from training import shapes
    from training.demo_model import NOISE_SCHEDULE, TINY, build_text_encoder, build_unet, build_vae
    from training.tokenizer import write_clip_tokenizer

    tok_dir = folder.parent / f".tok-{folder.name}"
    write_clip_tokenizer(tok_dir, shapes.caption_vocabulary())
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    torch.manual_seed(seed)
    pipe = StableDiffusionInpaintPipeline(
        vae=build_vae(TINY), text_encoder=build_text_encoder(TINY, len(tokenizer)), tokenizer=tokenizer,
        unet=build_unet(TINY, in_channels=9), scheduler=EulerDiscreteScheduler(**NOISE_SCHEDULE),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def inpaint_models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    """models/ with tiny-a (4-channel) and tiny-inpaint (9-channel)."""
    root = tmp_path_factory.mktemp("inpaint-models")
    checkpoints = root / "Stable-diffusion"
    checkpoints.mkdir()
    (checkpoints / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a", target_is_directory=True)
    save_tiny_inpainting_pipeline(checkpoints / "tiny-inpaint")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def inpaint_manager(inpaint_models_dir, cpu_fp32, tmp_path):
    from tests.fixtures.tiny import tiny_manager

    return tiny_manager(inpaint_models_dir, cpu_fp32, tmp_path / "cache.json")


def tiny_sdxl_pipeline(seed: int = 0):
    """An SDXL pipeline from tiny random components, as diffusers' own tests build one."""
    import tempfile

    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from training import shapes
    from training.demo_model import NOISE_SCHEDULE
    from training.tokenizer import write_clip_tokenizer

    with tempfile.TemporaryDirectory() as tok_dir:
        write_clip_tokenizer(Path(tok_dir), shapes.caption_vocabulary())
        tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    vocab = len(tokenizer)

    def text_config(width: int) -> CLIPTextConfig:
        return CLIPTextConfig(vocab_size=vocab, hidden_size=width, intermediate_size=width * 2, num_hidden_layers=2,
                              num_attention_heads=2, max_position_embeddings=77, projection_dim=16,
                              bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1)

    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=2, use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=1, projection_class_embeddings_input_dim=8 * 6 + 16, cross_attention_dim=16 + 24,
        norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
                        norm_num_groups=8, sample_size=16)
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_config(16)),
        text_encoder_2=CLIPTextModelWithProjection(text_config(24)),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=EulerDiscreteScheduler(**NOISE_SCHEDULE))
    pipe.set_progress_bar_config(disable=True)
    return pipe


class InMemoryModels:
    """Stands in for the ModelManager with one pipeline built in the test (no files)."""

    def __init__(self, pipe, name: str = "tiny-xl", family: str = "sdxl") -> None:
        from modules.engine.models.manager import LoadedModel
        from modules.engine.models.registry import CheckpointInfo

        info = CheckpointInfo(name=name, path=Path(name), kind="diffusers", family=family, sha256="ab" * 32)
        self.loaded = LoadedModel(info=info, pipe=pipe, own_vae=pipe.vae, scheduler_config=dict(pipe.scheduler.config),
                                  load_seconds=0.0)

    @contextmanager
    def use(self, checkpoint, vae="Automatic", loras=()):
        yield self.loaded

    def resolve(self, query):
        return self.loaded.info

    def find_lora(self, name):
        return None  # no Lora folder: a tag only warns

    def lora_hash(self, info):
        raise LookupError("no LoRAs here")

    def use_embeddings(self, loaded, text):
        return [], []  # no embeddings folder

    def find_controlnet(self, name):
        raise LookupError(f"no ControlNet {name!r} here")

    def controlnet(self, name, checkpoint):
        raise LookupError(f"no ControlNet {name!r} here")

    def ip_adapter(self, name, module, checkpoint):
        raise LookupError(f"no IP-Adapter {name!r} here")


@pytest.fixture(scope="session")
def sdxl_models():
    return InMemoryModels(tiny_sdxl_pipeline())
