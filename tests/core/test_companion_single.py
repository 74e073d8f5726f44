"""Z-Image and Qwen-Image from ComfyUI's single files on tiny random components: the transformer file told apart by
its weights (bare or prefixed, bf16 or fp8), its config read from its shapes, the Qwen text-encoder and VAE files
that fit taken with the config and tokenizer of the family's diffusers folder, the picture pixel-identical to the
folder's, the files used named in the infotext, and the error naming the missing part and where it goes."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.core.requests import GenerationRequest
from modules.engine.devices import DeviceConfig
from modules.engine.generation import generate
from modules.engine.models import companion_single, module_files
from modules.engine.models.manager import ModelManager
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_companion_files as files
from tests.fixtures import tiny_flow_families as tiny

ZIMAGE_FILE = "z_image_turbo_bf16.safetensors"
QWEN_FILE = "qwen_image_bf16.safetensors"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("companion-folders")
    return {"zimage": tiny.save_tiny_zimage(root / "tiny-zimage"),
            "qwen-image": tiny.save_tiny_qwen_image(root / "tiny-qwen-image")}


@pytest.fixture(scope="module")
def single(folders, tmp_path_factory) -> dict[str, Path]:
    """The files a ComfyUI user has: the two transformers, the two Qwen encoders, Flux's VAE."""
    out = tmp_path_factory.mktemp("companion-files")
    return {"zimage": files.save_zimage_transformer(folders["zimage"], out / ZIMAGE_FILE),
            "qwen-image": files.save_qwen_image_transformer(folders["qwen-image"], out / QWEN_FILE),
            "qwen3": files.save_qwen3_encoder(folders["zimage"], out / "qwen_3_4b.safetensors"),
            "qwen-vl": files.save_qwen_vl_encoder(folders["qwen-image"], out / "qwen_2.5_vl_7b.safetensors",
                                                  lm_head=False),
            "vae": files.save_flux_vae(folders["zimage"], out / "ae.safetensors")}


def _manager(root: Path) -> ModelManager:
    return files.companion_manager(root, {})  # root is linked already (_models)


def _models(root: Path, links: dict[str, list[Path]]) -> Path:
    for sub in ("Stable-diffusion", "text_encoder", "VAE"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for target in links.get(sub, []):
            (root / sub / target.name).symlink_to(target, target_is_directory=target.is_dir())
    return root


def _configs_only(folder: Path, dest: Path) -> Path:
    """A copy of a diffusers folder without its weights: the configs and tokenizer a user may keep of a release."""
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("*.safetensors"))
    return dest


def _request(checkpoint: str, **fields) -> GenerationRequest:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="green",
                             checkpoint=checkpoint, sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32,
                             seed=7)
    return replace(base, **fields)


# ------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("prefix", ["model.diffusion_model.", ""])
@pytest.mark.parametrize("dtype, stored", [(torch.bfloat16, "bfloat16"), (torch.float8_e4m3fn, "float8_e4m3fn")])
def test_a_zimage_file_in_the_release_layout_is_told_by_its_weights(folders, tmp_path, prefix, dtype, stored):
    path = files.save_zimage_transformer(folders["zimage"], tmp_path / "z.safetensors", prefix, dtype)
    facts = companion_single.describe(path)
    assert (facts.family, facts.layout, facts.prefix, facts.dtype) == ("zimage", "release", prefix, stored)
    assert facts.label == f"Z-Image transformer ({stored}, 1 blocks)"
    # Every entry the weights decide equals the folder's config (the rest comes from the folder).
    theirs = json.loads((folders["zimage"] / "transformer" / "config.json").read_text())
    config = companion_single.transformer_config(facts, [folders["zimage"]])
    assert {k: config[k] for k in ("dim", "n_layers", "n_refiner_layers", "n_heads", "n_kv_heads", "cap_feat_dim",
                                   "in_channels")} == {k: theirs[k] for k in ("dim", "n_layers", "n_refiner_layers",
                                                                              "n_heads", "n_kv_heads", "cap_feat_dim",
                                                                              "in_channels")}


@pytest.mark.parametrize("name, family", [(QWEN_FILE, "qwen-image"),
                                          ("qwen_image_edit_2509_fp8_e4m3fn.safetensors", "qwen-image-edit")])
def test_a_qwen_image_file_is_told_by_its_weights_and_edit_by_its_name(folders, tmp_path, name, family):
    path = files.save_qwen_image_transformer(folders["qwen-image"], tmp_path / name, dtype=torch.float8_e4m3fn)
    facts = companion_single.describe(path)
    assert (facts.family, facts.dtype) == (family, "float8_e4m3fn")
    assert facts.label.endswith("transformer (float8_e4m3fn, 1 blocks)")
    theirs = json.loads((folders["qwen-image"] / "transformer" / "config.json").read_text())
    config = companion_single.transformer_config(facts, [folders["qwen-image"]])
    assert {k: v for k, v in config.items() if k in theirs} == {k: v for k, v in theirs.items()
                                                              if not k.startswith("_")}


def test_a_flux_file_or_a_text_encoder_is_not_taken_for_one(single):
    assert companion_single.describe(single["qwen3"]) is None
    assert companion_single.describe(single["vae"]) is None


def test_the_released_shapes_give_the_released_config_without_any_folder():
    # Z-Image Turbo's shapes (dim 3840, 30 heads of 128, 30 layers, 2 refiners, Qwen3-4B's 2560-wide features)
    shapes = {"x_embedder.weight": (3840, 64), "cap_embedder.1.weight": (3840, 2560),
              "layers.0.adaLN_modulation.0.weight": (1024, 256), "layers.0.attention.q_norm.weight": (128,),
              "layers.0.attention.qkv.weight": (3 * 3840, 3840), "layers.29.attention.qkv.weight": (3 * 3840, 3840),
              "noise_refiner.1.attention.qkv.weight": (3 * 3840, 3840)}
    facts = companion_single.describe_header("z.safetensors", shapes, {k: "BF16" for k in shapes})
    config = companion_single.transformer_config(facts, [])
    assert (config["in_channels"], config["n_layers"], config["n_refiner_layers"], config["n_heads"],
            config["axes_dims"], config["rope_theta"]) == (16, 30, 2, 30, [32, 48, 48], 256.0)


def test_a_tiny_file_without_its_folder_says_its_rotary_axes_are_unknown(single):
    facts = companion_single.describe(single["zimage"])
    with pytest.raises(companion_single.CompanionFileError, match="16 wide.*transformer/config.json"):
        companion_single.transformer_config(facts, [])


def test_qwen_text_encoder_files_are_usable_with_their_shapes(single):
    qwen3 = module_files.describe_file(single["qwen3"], "qwen_3_4b.safetensors")
    vl = module_files.describe_file(single["qwen-vl"], "qwen_2.5_vl_7b.safetensors")
    assert (qwen3.kind, qwen3.usable, qwen3.shape[1:]) == ("qwen3", True, (16, 2))
    assert (vl.kind, vl.usable, vl.shape[1:]) == ("qwen2.5-vl", True, (16, 2))
    assert vl.label == "Qwen2.5-VL text encoder (float32)"


# ------------------------------------------------------------------------------------------- loading


def test_an_fp8_zimage_file_keeps_its_weights_in_fp8(folders, tmp_path):
    path = files.save_zimage_transformer(folders["zimage"], tmp_path / "z-fp8.safetensors", dtype=torch.float8_e4m3fn)
    facts = companion_single.describe(path)
    model = companion_single.load_transformer(path, facts, companion_single.transformer_config(
        facts, [folders["zimage"]]), torch.bfloat16)
    assert model.layers[0].attention.to_q.weight.dtype == torch.float8_e4m3fn
    fused = load_file(str(path))["model.diffusion_model.layers.0.attention.qkv.weight"]
    assert torch.equal(model.layers[0].attention.to_k.weight.view(torch.uint8), fused[32:64].view(torch.uint8))


def test_a_zimage_file_with_qwen3_and_flux_vae_files_draws_the_folders_picture(folders, single, tmp_path):
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["zimage"], single["zimage"]],
                                         "text_encoder": [single["qwen3"]], "VAE": [single["vae"]]})
    manager = _manager(root)
    info = manager.resolve(ZIMAGE_FILE)
    assert info.usable and info.family == "zimage" and info.family_label == "Z-Image transformer (bfloat16, 1 blocks)"
    request = _request(ZIMAGE_FILE, cfg_scale=3.0)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = files.bare_picture(folders["zimage"], "ZImagePipeline", prompt=request.prompt, negative_prompt="green",
                              guidance_scale=3.0, height=32, width=32, num_inference_steps=3)
    assert np.asarray(ours.images[0]).std() > 5
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
    assert "Module 1: qwen_3_4b.safetensors, Module 2: ae.safetensors" in ours.infotexts[0]


def test_the_text_encoder_file_is_what_draws_not_the_folders(folders, single, tmp_path):
    """A Qwen3 file with other weights changes the picture: the file is used, not the folder's own encoder."""
    weights = {k: (v + 0.5 if k.endswith("embed_tokens.weight") else v)
               for k, v in load_file(str(single["qwen3"])).items()}
    other = tmp_path / "qwen_3_4b_other.safetensors"
    save_file(weights, str(other))
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["zimage"], single["zimage"]],
                                         "text_encoder": [other], "VAE": [single["vae"]]})
    ours = generate(_request(ZIMAGE_FILE), _manager(root), SamplerRegistry.default())
    bare = files.bare_picture(folders["zimage"], "ZImagePipeline", prompt=_request("").prompt, guidance_scale=1.0,
                              height=32, width=32, num_inference_steps=3)
    assert "Module 1: qwen_3_4b_other.safetensors" in ours.infotexts[0]
    assert not np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))


def test_a_qwen_image_file_with_a_qwen_vl_file_draws_the_folders_picture(folders, single, tmp_path):
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["qwen-image"], single["qwen-image"]],
                                         "text_encoder": [single["qwen-vl"]]})
    manager = _manager(root)
    request = _request(QWEN_FILE, cfg_scale=2.5)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = files.bare_picture(folders["qwen-image"], "QwenImagePipeline", prompt=request.prompt,
                              negative_prompt="green", true_cfg_scale=2.5, height=32, width=32, num_inference_steps=3)
    assert np.asarray(ours.images[0]).std() > 5
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
    assert "Module 1: qwen_2.5_vl_7b.safetensors" in ours.infotexts[0] and "Module 2" not in ours.infotexts[0]


def test_a_folder_of_configs_and_tokenizer_alone_serves_the_files(folders, single, tmp_path):
    """The user has no weights of the diffusers release: its configs and tokenizer, and the three files."""
    configs = _configs_only(folders["zimage"], tmp_path / "zimage-configs")
    root = _models(tmp_path / "models", {"Stable-diffusion": [configs, single["zimage"]],
                                         "text_encoder": [single["qwen3"]], "VAE": [single["vae"]]})
    manager = _manager(root)
    assert not manager.resolve(ZIMAGE_FILE).parts  # chosen per job
    with manager.use(ZIMAGE_FILE) as loaded:
        assert type(loaded.pipe).__name__ == "ZImagePipeline"
        assert {m.name for m in loaded.info.parts} == {"qwen_3_4b.safetensors", "ae.safetensors"}


# ------------------------------------------------------------------------------------------- errors


def test_a_missing_text_encoder_and_folder_are_named_with_where_they_go(single, tmp_path):
    root = _models(tmp_path / "models", {"Stable-diffusion": [single["zimage"]], "VAE": [single["vae"]]})
    manager = _manager(root)
    from modules.engine.models.single_file import CheckpointError

    with pytest.raises(CheckpointError, match=r"z_image_turbo_bf16.safetensors needs a Qwen3 text encoder "
                                              r"\(qwen_3_4b.safetensors\) in models/text_encoder \(or a Z-Image "
                                              r"diffusers folder with its text_encoder/ weights"):
        with manager.use(ZIMAGE_FILE):
            pass


def test_a_missing_vae_is_named_when_the_folder_has_no_vae_weights(folders, single, tmp_path):
    configs = _configs_only(folders["zimage"], tmp_path / "zimage-configs")
    facts = companion_single.describe(single["zimage"])
    qwen3 = module_files.describe_file(single["qwen3"], "qwen_3_4b.safetensors")
    with pytest.raises(companion_single.CompanionFileError,
                       match=r"needs the Flux VAE \(ae.safetensors\) in models/VAE"):
        companion_single.choose_parts(facts, [], [qwen3], [configs], ZIMAGE_FILE)


def test_a_text_encoder_of_the_wrong_family_chosen_is_refused_with_the_reason(folders, single):
    facts = companion_single.describe(single["qwen-image"])
    qwen3 = module_files.describe_file(single["qwen3"], "qwen_3_4b.safetensors")
    with pytest.raises(companion_single.CompanionFileError, match="qwen_3_4b.safetensors is a Qwen3 text encoder.*"
                                                                  "does not fit"):
        companion_single.choose_parts(facts, [qwen3], [], [folders["qwen-image"]], QWEN_FILE)


def test_a_qwen_image_edit_file_runs_as_its_folders_edit_pipeline(single, tmp_path):
    folder = tiny.save_tiny_qwen_image_edit(tmp_path / "tiny-qwen-image-edit")
    name = "qwen_image_edit_bf16.safetensors"
    path = files.save_qwen_image_transformer(folder, tmp_path / name)
    root = _models(tmp_path / "models", {"Stable-diffusion": [folder, path], "text_encoder": [single["qwen-vl"]]})
    manager = _manager(root)
    assert manager.resolve(name).family == "qwen-image-edit"
    with manager.use(name) as loaded:
        assert type(loaded.pipe).__name__ == "QwenImageEditPipeline" and loaded.pipe.processor is not None
        assert [m.name for m in loaded.info.parts] == ["qwen_2.5_vl_7b.safetensors"]


@pytest.mark.parametrize("scale_name", [".scale_weight", ".weight_scale"])
def test_an_fp8_scaled_text_encoder_is_multiplied_back_by_its_scales(single, tmp_path, scale_name):
    weights = load_file(str(single["qwen3"]))
    key = "model.layers.0.mlp.down_proj.weight"
    scaled = dict(weights)
    scaled[key] = (weights[key] / 0.25).to(torch.float8_e4m3fn)
    scaled[key.replace(".weight", scale_name)] = torch.tensor(0.25)
    scaled["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    path = tmp_path / "qwen_3_4b_fp8_scaled.safetensors"
    save_file(scaled, str(path))
    read = companion_single.read_weights(path, "", torch.float32, keep_fp8=False)
    assert "scaled_fp8" not in read and key.replace(".weight", scale_name) not in read
    expected = scaled[key].to(torch.float32) * 0.25
    assert read[key].dtype == torch.float32 and torch.equal(read[key], expected)
    assert (read[key] - weights[key]).abs().max() < 0.1 * weights[key].abs().max()


def test_a_zimage_file_in_diffusers_names_loads_as_saved(folders, tmp_path):
    from diffusers import ZImageTransformer2DModel

    path = tmp_path / "z-diffusers.safetensors"
    save_file(load_file(str(next((folders["zimage"] / "transformer").glob("*.safetensors")))), str(path))
    facts = companion_single.describe(path)
    assert (facts.family, facts.layout, facts.prefix) == ("zimage", "diffusers", "")
    model = companion_single.load_transformer(path, facts, companion_single.transformer_config(
        facts, [folders["zimage"]]), torch.float32)
    theirs = ZImageTransformer2DModel.from_pretrained(str(folders["zimage"]), subfolder="transformer")
    assert all(torch.equal(a, theirs.state_dict()[k]) for k, a in model.state_dict().items())


def test_an_fp8_qwen_image_file_runs_through_the_manager_with_its_weights_kept_in_fp8(folders, single, tmp_path):
    name = "qwen_image_fp8_e4m3fn.safetensors"
    path = files.save_qwen_image_transformer(folders["qwen-image"], tmp_path / name, dtype=torch.float8_e4m3fn)
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["qwen-image"], path],
                                         "text_encoder": [single["qwen-vl"]]})
    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE",
                           cache_file=tmp_path / "models.json",
                           device=DeviceConfig(torch.device("cpu"), torch.bfloat16, "tests"),
                           text_encoder_dirs=(root / "text_encoder",))
    manager.refresh()
    assert manager.resolve(name).family_label == "Qwen-Image transformer (float8_e4m3fn, 1 blocks)"
    with manager.use(name) as loaded:
        assert loaded.placement.fp8
        assert loaded.pipe.transformer.transformer_blocks[0].attn.to_q.weight.dtype == torch.float8_e4m3fn
        image = loaded.pipe(prompt="a red circle", height=32, width=32, num_inference_steps=2, output_type="np",
                            generator=torch.Generator().manual_seed(1)).images
    assert np.isfinite(image).all() and image.std() > 0.01


def test_a_qwen_image_file_without_a_vae_names_the_vae_file_and_where_it_goes(folders, single, tmp_path):
    configs = _configs_only(folders["qwen-image"], tmp_path / "qwen-configs")
    facts = companion_single.describe(single["qwen-image"])
    vl = module_files.describe_file(single["qwen-vl"], "qwen_2.5_vl_7b.safetensors")
    with pytest.raises(companion_single.CompanionFileError,
                       match=r"needs the Qwen-Image VAE \(qwen_image_vae.safetensors\) in models/VAE"):
        companion_single.choose_parts(facts, [], [vl], [configs], QWEN_FILE)


def test_img2img_on_a_zimage_file_is_pixel_identical_to_the_bare_img2img_pipeline(folders, single, tmp_path):
    from PIL import Image

    red = Image.new("RGB", (32, 32), (200, 30, 30))
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["zimage"], single["zimage"]],
                                         "text_encoder": [single["qwen3"]], "VAE": [single["vae"]]})
    request = _request(ZIMAGE_FILE, mode="img2img", init_images=(red,), denoising_strength=0.6, steps=5,
                       negative_prompt="")
    ours = generate(request, _manager(root), SamplerRegistry.default())
    bare = files.bare_picture(folders["zimage"], "ZImageImg2ImgPipeline", prompt=request.prompt, image=red,
                              strength=0.6, guidance_scale=1.0, height=32, width=32, num_inference_steps=5)
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))


def test_a_qwen_image_file_takes_what_it_needs_from_an_edit_folder(single, tmp_path):
    folder = tiny.save_tiny_qwen_image_edit(tmp_path / "tiny-qwen-image-edit")
    root = _models(tmp_path / "models", {"Stable-diffusion": [folder, single["qwen-image"]],
                                         "text_encoder": [single["qwen-vl"]]})
    with _manager(root).use(QWEN_FILE) as loaded:
        assert type(loaded.pipe).__name__ == "QwenImagePipeline"
        assert [f.name for f in loaded.info.config_folders] == [folder.name]


def test_two_fitting_text_encoders_ask_for_a_choice_and_the_chosen_one_is_used(folders, single, tmp_path):
    from modules.engine.models.single_file import CheckpointError

    twin = tmp_path / "qwen_3_4b_fp16.safetensors"
    twin.write_bytes(single["qwen3"].read_bytes())
    root = _models(tmp_path / "models", {"Stable-diffusion": [folders["zimage"], single["zimage"]],
                                         "text_encoder": [single["qwen3"], twin], "VAE": [single["vae"]]})
    manager = _manager(root)
    with pytest.raises(CheckpointError, match="several files fit .* text encoder .*qwen_3_4b_fp16.safetensors.*"
                                              "choose one"):
        manager.with_parts(manager.resolve(ZIMAGE_FILE))
    info = manager.with_parts(manager.resolve(ZIMAGE_FILE), ("qwen_3_4b_fp16.safetensors",))
    assert [m.name for m in info.parts] == ["qwen_3_4b_fp16.safetensors", "ae.safetensors"]


def test_a_qwen_image_vae_file_is_told_by_its_3d_convolutions():
    shapes = {"encoder.conv1.weight": (96, 3, 3, 3, 3), "decoder.conv1.weight": (384, 16, 3, 3, 3),
              "decoder.head.2.weight": (3, 96, 3, 3, 3)}
    info = module_files.describe_shapes("qwen_image_vae.safetensors", Path("qwen_image_vae.safetensors"), shapes,
                                        "bfloat16")
    assert (info.kind, info.label, info.usable, info.shape) == ("qwen-vae", "Qwen-Image VAE (bfloat16)", True, (16,))


def test_the_wan_layout_fixture_is_what_diffusers_converter_reads(tmp_path):
    from diffusers import AutoencoderKLQwenImage
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    folder = files.save_tiny_qwen_image_released_vae(tmp_path / "tiny-qwen-image-vae")
    theirs = AutoencoderKLQwenImage.from_pretrained(str(folder), subfolder="vae").state_dict()
    back = convert_wan_vae_to_diffusers(files.qwen_vae_to_original(dict(theirs)))
    assert set(back) == set(theirs) and all(torch.equal(back[k], theirs[k]) for k in theirs)


def test_a_qwen_image_file_with_its_encoder_and_vae_files_and_a_configs_folder_draws_the_folders_picture(
        single, tmp_path):
    folder = files.save_tiny_qwen_image_released_vae(tmp_path / "tiny-qwen-image-vae")
    path = files.save_qwen_image_transformer(folder, tmp_path / "qwen_image_bf16.safetensors")
    vae = files.save_qwen_vae(folder, tmp_path / "qwen_image_vae.safetensors")
    encoder = files.save_qwen_vl_encoder(folder, tmp_path / "qwen_2.5_vl_7b.safetensors")
    configs = _configs_only(folder, tmp_path / "qwen-configs")
    root = _models(tmp_path / "models", {"Stable-diffusion": [configs, path], "text_encoder": [encoder],
                                         "VAE": [vae]})
    request = _request(QWEN_FILE, cfg_scale=2.5)
    ours = generate(request, _manager(root), SamplerRegistry.default())
    bare = files.bare_picture(folder, "QwenImagePipeline", prompt=request.prompt, negative_prompt="green",
                              true_cfg_scale=2.5, height=32, width=32, num_inference_steps=3)
    assert np.asarray(ours.images[0]).std() > 5
    assert np.array_equal(np.asarray(ours.images[0]), np.asarray(bare))
    assert "Module 1: qwen_2.5_vl_7b.safetensors, Module 2: qwen_image_vae.safetensors" in ours.infotexts[0]


def test_the_released_qwen_image_shapes_give_its_config_and_edit_2511_its_zero_timestep_references():
    shapes = {"img_in.weight": (3072, 64), "txt_in.weight": (3072, 3584), "txt_norm.weight": (3584,),
              "proj_out.weight": (64, 3072), "transformer_blocks.0.img_mod.1.weight": (18432, 3072),
              "transformer_blocks.0.attn.norm_q.weight": (128,), "transformer_blocks.59.attn.norm_q.weight": (128,)}
    dtypes = {k: "F8_E4M3" for k in shapes}
    plain = companion_single.describe_header("qwen_image_fp8_e4m3fn.safetensors", shapes, dtypes)
    config = companion_single.transformer_config(plain, [])
    assert (config["in_channels"], config["out_channels"], config["num_layers"], config["num_attention_heads"],
            config["joint_attention_dim"], config["axes_dims_rope"]) == (64, 16, 60, 24, 3584, [16, 56, 56])
    assert "zero_cond_t" not in config
    edit = companion_single.describe_header("qwen_image_edit_2511_bf16.safetensors", shapes, dtypes)
    assert edit.family == "qwen-image-edit" and companion_single.transformer_config(edit, [])["zero_cond_t"] is True


def test_a_zimage_file_refused_by_an_older_scan_is_read_again(single, tmp_path):
    from modules.engine.models.registry import HashCache

    root = _models(tmp_path / "models", {"Stable-diffusion": [single["zimage"]]})
    path = root / "Stable-diffusion" / ZIMAGE_FILE
    # What the cache held before these files loaded: the SD reader's refusal of a UNet-only file.
    HashCache(tmp_path / "models.json").put(path, {"error": "the file has a UNet but no text encoder; UNet-only "
                                                            "files are not supported yet"})
    info = _manager(root).resolve(ZIMAGE_FILE)
    assert info.family == "zimage" and "UNet-only" not in (info.error or "")
