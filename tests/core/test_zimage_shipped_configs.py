"""A Z-Image transformer file with its Qwen3 and Flux VAE files and no Z-Image diffusers folder runs on what ships in
configs/: Qwen's tokenizer, Qwen3-4B's constants around the encoder file's shapes, Z-Image Turbo's scheduler. The
picture equals the one a diffusers folder made of the same parts (and the same shipped tokenizer) draws."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.engine.generation import generate
from modules.engine.models import companion_single, module_files
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_companion_files as files

ZIMAGE_FILE = "z_image_turbo_bf16.safetensors"
# The released Z-Image's rotary split needs heads 128 wide (companion_single._ZIMAGE_RELEASE): one head of 128.
TRANSFORMER = {"all_patch_size": (2,), "all_f_patch_size": (1,), "in_channels": 4, "dim": 128, "n_layers": 1,
               "n_refiner_layers": 1, "n_heads": 1, "n_kv_heads": 1, "norm_eps": 1e-5, "qk_norm": True,
               "cap_feat_dim": 16, "rope_theta": 256.0, "t_scale": 1000.0, "axes_dims": [32, 48, 48],
               "axes_lens": [1536, 512, 512]}
# Qwen3 sized down; the vocabulary stays whole, as the prompt is padded with <|endoftext|> = 151643.
ENCODER = {"hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "max_window_layers": 2,
           "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "vocab_size": 151936}


def _save_folder(folder: Path) -> Path:
    """A ZImagePipeline folder built from the shipped tokenizer, encoder constants and scheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

    from tests.fixtures.tiny_flow import FLUX_FIXTURE
    from training.flux_model import build_vae

    shipped = companion_single.ZIMAGE_SHIPPED
    torch.manual_seed(3)
    transformer = ZImageTransformer2DModel(**TRANSFORMER)
    with torch.no_grad():  # created with torch.empty: random bytes would make the picture unrepeatable
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    vae = build_vae(replace(FLUX_FIXTURE, latent_channels=4))
    vae.register_to_config(scaling_factor=0.36, shift_factor=0.11)
    constants = json.loads((shipped / "text_encoder" / "config.json").read_text())
    encoder = Qwen3Model(Qwen3Config(**{**constants, **ENCODER})).eval()
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(
        FlowMatchEulerDiscreteScheduler.load_config(str(shipped / "scheduler")))
    tokenizer = AutoTokenizer.from_pretrained(str(companion_single.QWEN_TOKENIZER), local_files_only=True)
    ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=encoder, tokenizer=tokenizer,
                   transformer=transformer).save_pretrained(str(folder), safe_serialization=True)
    return folder


def _vae_configs(folder: Path, out: Path) -> Path:
    """A Flux folder holding only its VAE config (the tiny VAE's shapes match no shipped config; ae.safetensors
    matches configs/flux/vae): not a Z-Image folder, so it lends nothing else."""
    (out / "vae").mkdir(parents=True)
    (out / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    (out / "vae" / "config.json").write_text((folder / "vae" / "config.json").read_text())
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zimage-shipped")
    folder = _save_folder(root / "tiny-zimage-128")
    return {"folder": folder, "flux-vae": _vae_configs(folder, root / "flux-vae-configs"),
            "zimage": files.save_zimage_transformer(folder, root / ZIMAGE_FILE),
            "qwen3": files.save_qwen3_encoder(folder, root / "qwen_3_4b.safetensors"),
            "vae": files.save_flux_vae(folder, root / "ae.safetensors")}


def test_the_qwen3_config_is_read_from_the_files_shapes_around_qwen3_4bs_constants(made):
    module = module_files.describe_file(made["qwen3"], "qwen_3_4b.safetensors")
    config = companion_single.qwen3_config(module)
    assert {k: config[k] for k in ENCODER} == ENCODER
    assert (config["rope_theta"], config["rms_norm_eps"], config["hidden_act"], config["tie_word_embeddings"]) == (
        1000000, 1e-06, "silu", True)


def test_a_zimage_file_with_its_qwen3_and_vae_files_and_no_family_folder_draws_the_folders_picture(made, tmp_path):
    links = {"Stable-diffusion": [made["zimage"], made["flux-vae"]], "text_encoder": [made["qwen3"]],
             "VAE": [made["vae"]]}
    manager = files.companion_manager(tmp_path / "models", links)
    info = manager.with_parts(manager.resolve(ZIMAGE_FILE))
    assert [f.name for f in info.config_folders] == ["zimage", "flux-vae-configs"]
    assert info.config_folders[0] == companion_single.ZIMAGE_SHIPPED
    request = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="green",
                                checkpoint=ZIMAGE_FILE, sampler="Euler", steps=3, cfg_scale=3.0, width=32, height=32,
                                seed=7)
    ours = generate(request, manager, SamplerRegistry.default())

    bare = files.bare_picture(made["folder"], "ZImagePipeline", prompt=request.prompt, negative_prompt="green",
                              guidance_scale=3.0, height=32, width=32, num_inference_steps=3)
    assert np.asarray(ours.images[0]).std() > 5
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
    assert "Module 1: qwen_3_4b.safetensors, Module 2: ae.safetensors" in ours.infotexts[0]


def test_without_a_text_encoder_file_the_error_names_the_file_and_its_folder(made, tmp_path):
    from modules.engine.models.single_file import CheckpointError

    links = {"Stable-diffusion": [made["zimage"], made["flux-vae"]], "VAE": [made["vae"]]}
    manager = files.companion_manager(tmp_path / "models", links)
    with pytest.raises(CheckpointError, match=r"z_image_turbo_bf16.safetensors needs a Qwen3 text encoder "
                                              r"\(qwen_3_4b.safetensors\) in models/text_encoder"):
        manager.with_parts(manager.resolve(ZIMAGE_FILE))


def test_without_a_vae_file_the_error_names_the_file_and_its_folder(made):
    facts = companion_single.describe(made["zimage"])
    qwen3 = module_files.describe_file(made["qwen3"], "qwen_3_4b.safetensors")
    with pytest.raises(companion_single.CompanionFileError, match=r"needs the Flux VAE \(ae.safetensors\) in "
                                                                  r"models/VAE"):
        companion_single.choose_parts(facts, [], [qwen3], [], ZIMAGE_FILE)


def test_a_vae_file_no_config_fits_is_refused_with_its_shapes(made):
    facts = companion_single.describe(made["zimage"])
    qwen3 = module_files.describe_file(made["qwen3"], "qwen_3_4b.safetensors")
    vae = module_files.describe_file(made["vae"], "ae.safetensors")
    with pytest.raises(companion_single.CompanionFileError, match=r"ae.safetensors .*matches neither Flux's shipped"):
        companion_single.choose_parts(facts, [], [qwen3, vae], [], ZIMAGE_FILE)


def test_qwen_3_4bs_released_shapes_give_qwen3_4bs_config(monkeypatch, tmp_path):
    """ComfyUI's qwen_3_4b.safetensors keeps Hugging Face's names (`model.layers.N...`): 36 layers 2560 wide, 32
    query and 8 key-value heads of 128, MLP 9728, vocabulary 151936 (Qwen3-4B's config.json)."""
    shapes = {"model.embed_tokens.weight": (151936, 2560), "model.layers.0.self_attn.q_proj.weight": (4096, 2560),
              "model.layers.0.self_attn.k_proj.weight": (1024, 2560), "model.layers.0.self_attn.q_norm.weight": (128,),
              "model.layers.0.mlp.gate_proj.weight": (9728, 2560), "model.layers.35.mlp.gate_proj.weight": (9728, 2560)}
    monkeypatch.setattr(companion_single, "read_header", lambda path: (shapes, {}, {}))
    module = module_files.ModuleInfo("qwen_3_4b.safetensors", tmp_path / "qwen_3_4b.safetensors", "qwen3", "Qwen3",
                                     shape=(151936, 2560, 36))
    shipped = json.loads((companion_single.ZIMAGE_SHIPPED / "text_encoder" / "config.json").read_text())
    assert companion_single.qwen3_config(module) == shipped


def test_img2img_on_the_shipped_configs_is_pixel_identical_to_the_folders_img2img(made, tmp_path):
    from PIL import Image

    links = {"Stable-diffusion": [made["zimage"], made["flux-vae"]], "text_encoder": [made["qwen3"]],
             "VAE": [made["vae"]]}
    manager = files.companion_manager(tmp_path / "models", links)
    red = Image.new("RGB", (32, 32), (200, 30, 30))
    request = GenerationRequest(prompt="a red circle", checkpoint=ZIMAGE_FILE, sampler="Euler", steps=5,
                                cfg_scale=1.0, width=32, height=32, seed=7, mode="img2img", init_images=(red,),
                                denoising_strength=0.6)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = files.bare_picture(made["folder"], "ZImageImg2ImgPipeline", prompt=request.prompt, image=red, strength=0.6,
                              guidance_scale=1.0, height=32, width=32, num_inference_steps=5)
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
