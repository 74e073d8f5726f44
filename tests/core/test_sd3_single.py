"""SD 3 / 3.5 from single files on tiny random components: the transformer in Stability's release layout told apart
by its weights (variant, config, storage dtype), fp8 kept fp8, CLIP-L told from CLIP-G, the missing file named with
where it goes, and the picture through our generation identical to the diffusers folder's, from separate files and
from an all-in-one file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.core.requests import GenerationRequest
from modules.engine.devices import DeviceConfig
from modules.engine.generation import generate
from modules.engine.models import flux_single, module_files, sd3_single
from modules.engine.models.manager import ModelManager
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.original_layout_sd3 import export_sd3_files, save_sd3_folder


@pytest.fixture(scope="module")
def sd3_models(tmp_path_factory):
    """models/ as an SD 3.5 user has it: the transformer and an all-in-one file in Stable-diffusion, the encoders in
    text_encoder, the VAE in VAE; beside them the same model as a diffusers folder."""
    root = tmp_path_factory.mktemp("sd3-files") / "models"
    folder = save_sd3_folder(root / "Stable-diffusion" / "tiny-sd3", "3.5-medium", seed=1)
    files = export_sd3_files(folder, root.parent / "export", "tiny-sd35")
    for sub, part in (("Stable-diffusion", "transformer"), ("Stable-diffusion", "aio"), ("text_encoder", "clip_l"),
                      ("text_encoder", "clip_g"), ("text_encoder", "t5"), ("VAE", "vae")):
        (root / sub).mkdir(exist_ok=True)
        (root / sub / files[part].name).symlink_to(files[part])
    return root, folder, files


def _manager(root: Path, cache: Path) -> ModelManager:
    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE", cache_file=cache,
                           device=DeviceConfig(torch.device("cpu"), torch.float32, "tests"),
                           text_encoder_dirs=(root / "text_encoder",))
    manager.refresh()
    return manager


@pytest.mark.parametrize("variant, label", [("3-medium", "SD 3.x (2 blocks) transformer (float32)"),
                                            ("3.5-medium", "SD 3.5 Medium transformer (float32)")])
def test_the_transformers_config_is_read_from_its_release_layout_weights(tmp_path, variant, label):
    folder = save_sd3_folder(tmp_path / "folder", variant)
    files = export_sd3_files(folder, tmp_path / "out", "t")
    facts = sd3_single.describe(files["transformer"])
    theirs = json.loads((folder / "transformer" / "config.json").read_text())
    assert facts.label == label and not facts.embedded
    for key, value in facts.config.items():
        if key != "sample_size":  # the pipeline's default size only; the file cannot say it
            assert (list(value) if isinstance(value, tuple) else value) == \
                   (list(theirs[key]) if isinstance(theirs[key], (list, tuple)) else theirs[key]), key
    model = sd3_single.load_transformer(files["transformer"], facts.config, torch.float32)
    from diffusers import SD3Transformer2DModel

    bare = SD3Transformer2DModel.from_pretrained(str(folder / "transformer")).state_dict()
    ours = model.state_dict()
    assert ours.keys() == bare.keys()
    assert all(torch.equal(ours[k], bare[k]) for k in bare)


def test_an_fp8_sd3_file_keeps_its_weights_in_fp8(sd3_models, tmp_path):
    _, _, files = sd3_models
    weights = load_file(str(files["transformer"]))
    fp8 = {k: (v.to(torch.float8_e4m3fn) if k.endswith("qkv.weight") else v) for k, v in weights.items()}
    path = tmp_path / "sd35-fp8.safetensors"
    save_file(fp8, str(path))
    facts = sd3_single.describe(path)
    model = sd3_single.load_transformer(path, facts.config, torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.float8_e4m3fn, torch.bfloat16}
    q, _, _ = fp8["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"].chunk(3)
    assert torch.equal(model.transformer_blocks[0].attn.to_q.weight.view(torch.uint8), q.view(torch.uint8))


def test_clip_l_and_clip_g_files_have_their_own_roles_and_a_missing_one_is_named(sd3_models):
    root, _, files = sd3_models
    found = {m.name: m for m in module_files.scan([root / "text_encoder", root / "VAE"])}
    assert found[files["clip_g"].name].role == "clip_g" and found[files["clip_g"].name].label.startswith("CLIP-G")
    assert found[files["clip_l"].name].role == "clip"
    facts = sd3_single.describe(files["transformer"])
    without_g = [m for m in found.values() if m.role != "clip_g"]
    with pytest.raises(flux_single.FluxPartsError,
                       match=r"needs a CLIP-G text encoder \(clip_g.safetensors\) in models/text_encoder"):
        sd3_single.choose_parts(facts, [], without_g, files["transformer"].name)
    flux_like = flux_single.FluxFile({"pooled_projection_dim": 1280, "joint_attention_dim": 4096,
                                      "in_channels": 64}, "dev", "bfloat16")
    assert not flux_like.fits(found[files["clip_g"].name])  # a CLIP-G never stands in for Flux's CLIP-L


def test_the_sd3_vae_config_comes_from_the_family_not_from_the_shapes_alone():
    real_vae = module_files.ModuleInfo("vae.safetensors", Path("vae.safetensors"), "vae", "16-channel VAE",
                                       shape=(16, 128, 256, 512, 512))
    sd3_dir, _ = sd3_single.config_source("vae", real_vae, [])
    flux_dir, _ = flux_single.config_source("vae", real_vae, [])
    sd3 = json.loads((sd3_dir / "config.json").read_text())
    flux = json.loads((flux_dir / "vae" / "config.json").read_text())
    assert (sd3["scaling_factor"], sd3["shift_factor"]) == (1.5305, 0.0609)
    assert (flux["scaling_factor"], flux["shift_factor"]) == (0.3611, 0.1159)
    scheduler = flux_single.load_scheduler(sd3_single.scheduler_source(sd3_single.Sd3File({"num_layers": 0}, ""), []))
    assert type(scheduler).__name__ == "FlowMatchEulerDiscreteScheduler" and scheduler.config.shift == 3.0


def _request(checkpoint: str) -> GenerationRequest:
    return GenerationRequest(prompt="a red circle on a blue background", negative_prompt="blurry",
                             checkpoint=checkpoint, sampler="Euler", steps=3, cfg_scale=2.0, width=32, height=32,
                             seed=7)


def test_the_files_draw_the_folders_picture_through_our_generation(sd3_models, tmp_path):
    root, _, files = sd3_models
    manager = _manager(root, tmp_path / "cache.json")
    listed = {i.name: i for i in manager.checkpoints.all()}
    single, aio = listed[files["transformer"].name], listed[files["aio"].name]
    assert single.usable and single.family == "sd3" and single.transformer_file
    assert single.family_label == "SD 3.5 Medium transformer (float32)"
    assert aio.family_label.startswith("SD 3.5 Medium transformer (float32) with CLIP-L text encoder, CLIP-G")
    samplers = SamplerRegistry.default()
    folder = generate(_request("tiny-sd3"), manager, samplers)
    from_files = generate(_request(files["transformer"].name), manager, samplers)
    from_aio = generate(_request(files["aio"].name), manager, samplers)
    a, b, c = (np.asarray(r.images[0]).astype(int) for r in (folder, from_files, from_aio))
    assert a.std() > 5  # a picture, not a blank
    assert np.array_equal(a, b) and np.array_equal(a, c)
    with manager.use(files["transformer"].name) as loaded:
        assert type(loaded.pipe).__name__ == "StableDiffusion3Pipeline"
        assert {m.role for m in loaded.info.parts} == {"clip", "clip_g", "t5", "vae"}
        assert {m.name for m in loaded.info.parts} == {files[p].name for p in ("clip_l", "clip_g", "t5", "vae")}
    assert files["clip_g"].name in from_files.infotexts[0]  # the files used are written in the infotext


@pytest.mark.parametrize("config, label", [
    ({"num_layers": 24, "num_attention_heads": 24, "caption_projection_dim": 1536, "pos_embed_max_size": 192},
     "SD 3 Medium"),
    ({"num_layers": 24, "num_attention_heads": 24, "caption_projection_dim": 1536, "pos_embed_max_size": 384,
      "qk_norm": "rms_norm", "dual_attention_layers": tuple(range(13))}, "SD 3.5 Medium"),
    ({"num_layers": 38, "num_attention_heads": 38, "caption_projection_dim": 2432, "pos_embed_max_size": 192,
      "qk_norm": "rms_norm"}, "SD 3.5 Large"),
])
def test_the_released_sd3_sizes_are_told_apart_by_their_shapes(config, label):
    """The released models' shapes (built on the meta device: no memory) give back their whole config."""
    from accelerate import init_empty_weights
    from diffusers import SD3Transformer2DModel

    from tests.fixtures.original_layout_sd3 import sd3_to_original

    full = {"sample_size": 128, "patch_size": 2, "in_channels": 16, "attention_head_dim": 64,
            "joint_attention_dim": 4096, "pooled_projection_dim": 2048, "out_channels": 16,
            "dual_attention_layers": (), "qk_norm": None, **config}
    with init_empty_weights(include_buffers=True):
        model = SD3Transformer2DModel(**full)
    shapes = {k: tuple(v.shape) for k, v in sd3_to_original(model.state_dict(), full["num_layers"]).items()}
    found = sd3_single.config_from_shapes(shapes)
    assert found == full and sd3_single.Sd3File(found, "bfloat16").label == f"{label} transformer (bfloat16)"


def test_a_scaled_fp8_file_is_multiplied_back_by_its_scales(sd3_models, tmp_path):
    """ComfyUI's fp8_scaled files: each weight stored divided by a scale beside it."""
    _, _, files = sd3_models
    weights = load_file(str(files["transformer"]))
    key = "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"
    scaled = dict(weights)
    scaled[key] = (weights[key] / 0.5).to(torch.float8_e4m3fn)
    scaled[key.removesuffix(".weight") + ".scale_weight"] = torch.tensor(0.5)
    scaled["model.diffusion_model.scaled_fp8"] = torch.zeros(2, dtype=torch.float8_e4m3fn)
    path = tmp_path / "sd35_fp8_scaled.safetensors"
    save_file(scaled, str(path))
    facts = sd3_single.describe(path)
    model = sd3_single.load_transformer(path, facts.config, torch.float32)
    q, _, _ = (scaled[key].to(torch.float32) * 0.5).chunk(3)
    assert torch.equal(model.transformer_blocks[0].attn.to_q.weight, q)
    assert facts.dtype == "float32"  # most weights; the scales are not counted
