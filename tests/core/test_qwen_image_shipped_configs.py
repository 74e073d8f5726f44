"""A Qwen-Image transformer file with its Qwen2.5-VL and VAE files and no Qwen-Image diffusers folder runs on what
ships in configs/: Qwen's tokenizer, Qwen-Image's scheduler, and Qwen2.5-VL-7B's and the Qwen-Image VAE's constants
around the files' shapes. The picture equals the one a diffusers folder made of the same parts (and the same shipped
tokenizer, scheduler and latent statistics) draws."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.engine.generation import generate
from modules.engine.models import companion_single, module_files
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_companion_files as files

QWEN_FILE = "qwen_image_bf16.safetensors"
SHIPPED = companion_single.QWEN_IMAGE_SHIPPED
# The released rotary split needs heads 128 wide: one head of 128, the text encoder as wide.
TRANSFORMER = {"patch_size": 2, "in_channels": 64, "out_channels": 16, "num_layers": 1, "attention_head_dim": 128,
               "num_attention_heads": 1, "joint_attention_dim": 128, "guidance_embeds": False,
               "axes_dims_rope": (16, 56, 56)}
# Qwen2.5-VL sized down to heads of the released widths (text 128, vision 80); the vocabulary stays whole.
TEXT = {"hidden_size": 128, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 1,
        "num_key_value_heads": 1, "vocab_size": 152064}
VISION = {"depth": 1, "hidden_size": 80, "num_heads": 1, "intermediate_size": 16, "out_hidden_size": 128}
VAE = {"base_dim": 8, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "temperal_downsample": [False, True, True]}


def _save_folder(folder: Path) -> Path:
    """A QwenImagePipeline folder built from the shipped tokenizer, scheduler, encoder and VAE constants."""
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline
    from diffusers import QwenImageTransformer2DModel
    from transformers import AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(5)
    transformer = QwenImageTransformer2DModel(**TRANSFORMER)
    vae_constants = json.loads((SHIPPED / "vae" / "config.json").read_text())
    vae = AutoencoderKLQwenImage(z_dim=16, latents_mean=vae_constants["latents_mean"],
                                 latents_std=vae_constants["latents_std"], **VAE)
    constants = json.loads((SHIPPED / "text_encoder" / "config.json").read_text())
    text = {**constants["text_config"], **TEXT, "max_window_layers": 1, "layer_types": ["full_attention"]}
    config = Qwen2_5_VLConfig(**{**constants, "text_config": text,
                                 "vision_config": {**constants["vision_config"], **VISION}})
    encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(
        FlowMatchEulerDiscreteScheduler.load_config(str(SHIPPED / "scheduler")))
    tokenizer = AutoTokenizer.from_pretrained(str(companion_single.QWEN_TOKENIZER), local_files_only=True)
    QwenImagePipeline(scheduler=scheduler, vae=vae, text_encoder=encoder, tokenizer=tokenizer,
                      transformer=transformer).save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen-image-shipped")
    folder = _save_folder(root / "tiny-qwen-image-128")
    return {"folder": folder,
            "qwen-image": files.save_qwen_image_transformer(folder, root / QWEN_FILE),
            "qwen-vl": files.save_qwen_vl_encoder(folder, root / "qwen_2.5_vl_7b.safetensors", lm_head=False),
            "vae": files.save_qwen_vae(folder, root / "qwen_image_vae.safetensors")}


def test_the_encoder_and_vae_configs_are_read_from_the_files_shapes_around_the_released_constants(made):
    encoder = module_files.describe_file(made["qwen-vl"], "qwen_2.5_vl_7b.safetensors")
    config = companion_single.qwen_vl_config(encoder)
    assert {k: config["text_config"][k] for k in TEXT} == TEXT
    assert {k: config["vision_config"][k] for k in VISION} == VISION
    assert config["text_config"]["rope_scaling"]["mrope_section"] == [16, 24, 24]
    assert config["vision_config"]["fullatt_block_indexes"] == []  # the released 7, 15, 23, 31 are past depth 1
    vae = module_files.describe_file(made["vae"], "qwen_image_vae.safetensors")
    vae_config = companion_single.qwen_vae_config(vae)
    assert {k: vae_config[k] for k in VAE} == VAE
    saved = json.loads((made["folder"] / "vae" / "config.json").read_text())
    assert (vae_config["latents_mean"], vae_config["latents_std"]) == (saved["latents_mean"], saved["latents_std"])


def test_the_released_shapes_give_the_released_configs(monkeypatch, tmp_path):
    """ComfyUI's qwen_2.5_vl_7b.safetensors keeps Hugging Face's names (`model.layers.N...`, `visual.*`): 28 layers
    3584 wide, 4 key-value heads of 128, MLP 18944, vocabulary 152064; a vision tower of 32 blocks 1280 wide."""
    shapes = {"model.embed_tokens.weight": (152064, 3584), "model.layers.0.self_attn.k_proj.weight": (512, 3584),
              "model.layers.0.mlp.gate_proj.weight": (18944, 3584),
              "model.layers.27.mlp.gate_proj.weight": (18944, 3584),
              "visual.patch_embed.proj.weight": (1280, 3, 2, 14, 14),
              "visual.blocks.0.mlp.gate_proj.weight": (3420, 1280),
              "visual.blocks.31.mlp.gate_proj.weight": (3420, 1280), "visual.merger.mlp.0.weight": (5120, 5120),
              "visual.merger.mlp.2.weight": (3584, 5120)}
    monkeypatch.setattr(companion_single, "read_header", lambda path: (shapes, {}, {}))
    module = module_files.ModuleInfo("qwen_2.5_vl_7b.safetensors", tmp_path / "qwen_2.5_vl_7b.safetensors",
                                     "qwen2.5-vl", "Qwen2.5-VL", shape=(152064, 3584, 28))
    shipped = json.loads((SHIPPED / "text_encoder" / "config.json").read_text())
    config = companion_single.qwen_vl_config(module)
    assert config["text_config"] == shipped["text_config"]
    assert config["vision_config"] == shipped["vision_config"]


def test_a_qwen_image_file_with_its_encoder_and_vae_files_and_no_family_folder_draws_the_folders_picture(
        made, tmp_path):
    links = {"Stable-diffusion": [made["qwen-image"]], "text_encoder": [made["qwen-vl"]], "VAE": [made["vae"]]}
    manager = files.companion_manager(tmp_path / "models", links)
    info = manager.with_parts(manager.resolve(QWEN_FILE))
    assert info.config_folders == (SHIPPED,)
    request = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="green",
                                checkpoint=QWEN_FILE, sampler="Euler", steps=3, cfg_scale=2.5, width=32, height=32,
                                seed=7)
    ours = generate(request, manager, SamplerRegistry.default())

    bare = files.bare_picture(made["folder"], "QwenImagePipeline", prompt=request.prompt, negative_prompt="green",
                              true_cfg_scale=2.5, height=32, width=32, num_inference_steps=3)
    assert np.asarray(ours.images[0]).std() > 5
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
    assert "Module 1: qwen_2.5_vl_7b.safetensors, Module 2: qwen_image_vae.safetensors" in ours.infotexts[0]


def test_without_a_vae_file_the_error_names_the_file_and_its_folder(made):
    facts = companion_single.describe(made["qwen-image"])
    encoder = module_files.describe_file(made["qwen-vl"], "qwen_2.5_vl_7b.safetensors")
    with pytest.raises(companion_single.CompanionFileError,
                       match=r"needs the Qwen-Image VAE \(qwen_image_vae.safetensors\) in models/VAE"):
        companion_single.choose_parts(facts, [], [encoder], [], QWEN_FILE)


def test_a_vae_of_other_latent_channels_is_refused_with_the_reason(made, tmp_path):
    """The released latent statistics are for 16 channels; a 4-channel VAE file has none we could know."""
    folder = files.save_tiny_qwen_image_released_vae(tmp_path / "tiny-qwen-image-z4")
    other = module_files.describe_file(files.save_qwen_vae(folder, tmp_path / "qwen_image_vae_z4.safetensors"),
                                       "qwen_image_vae_z4.safetensors")
    with pytest.raises(companion_single.CompanionFileError, match=r"has 4 latent channels"):
        companion_single.qwen_vae_config(other)


def test_an_edit_file_without_a_folder_still_names_the_folder_it_needs(made, tmp_path):
    edit = tmp_path / "qwen_image_edit_bf16.safetensors"
    edit.symlink_to(made["qwen-image"])
    facts = companion_single.describe(edit)
    assert facts.family == "qwen-image-edit"
    encoder = module_files.describe_file(made["qwen-vl"], "qwen_2.5_vl_7b.safetensors")
    vae = module_files.describe_file(made["vae"], "qwen_image_vae.safetensors")
    with pytest.raises(companion_single.CompanionFileError, match=r"processor and text-encoder config of a "
                                                                  r"Qwen-Image-Edit diffusers folder"):
        companion_single.choose_parts(facts, [], [encoder, vae], [], edit.name)


def test_img2img_on_the_shipped_configs_is_pixel_identical_to_the_folders_img2img(made, tmp_path):
    from PIL import Image

    links = {"Stable-diffusion": [made["qwen-image"]], "text_encoder": [made["qwen-vl"]], "VAE": [made["vae"]]}
    manager = files.companion_manager(tmp_path / "models", links)
    red = Image.new("RGB", (32, 32), (200, 30, 30))
    request = GenerationRequest(prompt="a red circle", checkpoint=QWEN_FILE, sampler="Euler", steps=5,
                                cfg_scale=1.0, width=32, height=32, seed=7, mode="img2img", init_images=(red,),
                                denoising_strength=0.6)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = files.bare_picture(made["folder"], "QwenImageImg2ImgPipeline", prompt=request.prompt, image=red,
                              strength=0.6, true_cfg_scale=1.0, height=32, width=32, num_inference_steps=5)
    assert np.asarray(ours.images[0]).std() > 1
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
