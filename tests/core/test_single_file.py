"""Single-file checkpoints: safe reading, family detection, offline loading, shipped configs and tokenizers."""

from __future__ import annotations

import gc
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from modules.engine.models import single_file as sf
from modules.engine.models.single_file import (
    CheckpointError,
    ModelFamily,
    UnsupportedModel,
    config_dir,
    detect_family,
    load_single_file,
    load_vae_file,
    read_state_dict,
)
from tests.fixtures.original_layout import (
    clip_to_original,
    unet_to_original,
    vae_to_original,
    write_original_checkpoint,
    write_original_vae,
)

FAMILIES = ["sd1", "sd2", "sd2-v", "sdxl"]
UNET = "model.diffusion_model."


class NotATensor:
    """Stands for the arbitrary objects a malicious pickle could carry."""


# ------------------------------------------------------------------------------------------ reading


def test_corrupt_safetensors_is_reported_with_advice(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_file({"a": torch.zeros(1000)}, str(good))
    truncated = tmp_path / "model.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match=r"is not a valid safetensors file .*re-download it"):
            read_state_dict(path)


def test_pickle_with_objects_is_refused_because_it_can_run_code(tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "callback": NotATensor()}, path)
    with pytest.raises(CheckpointError, match=r"can run any code.*\.safetensors") as info:
        read_state_dict(path)
    assert "model.ckpt was refused" in str(info.value) and "NotATensor" in str(info.value)


def test_damaged_pickle_is_reported(tmp_path: Path) -> None:
    (tmp_path / "zip.ckpt").write_bytes(b"PK\x03\x04 damaged")
    (tmp_path / "old.ckpt").write_bytes(b"\x80\x02 damaged")
    for name in ("zip.ckpt", "old.ckpt"):
        with pytest.raises(CheckpointError, match="(?i)re-download it"):
            read_state_dict(tmp_path / name)


def test_plain_pickle_is_read_and_state_dict_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2), "global_step": 7}, "epoch": 1}, path)
    assert list(read_state_dict(path)) == ["w"]


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"0")
    with pytest.raises(CheckpointError, match="use a .safetensors"):
        read_state_dict(tmp_path / "x.bin")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "missing.safetensors")


# ---------------------------------------------------------------------------------------- detection


def _z(*shape: int) -> torch.Tensor:
    return torch.zeros(shape)


SD1_KEYS = {
    UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _z(320, 768),
    UNET + "output_blocks.11.0.skip_connection.weight": _z(1),
    UNET + "input_blocks.0.0.weight": _z(320, 4, 3, 3),
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": _z(77, 768),
}
SD2_KEYS = {
    UNET + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": _z(320, 1024),
    UNET + "input_blocks.0.0.weight": _z(320, 4, 3, 3),
    "cond_stage_model.model.token_embedding.weight": _z(1),
}
SDXL_KEYS = {
    UNET + "input_blocks.0.0.weight": _z(320, 4, 3, 3),
    "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": _z(1),
}


@pytest.mark.parametrize(
    ("state_dict", "expected"),
    [
        (SD1_KEYS, ModelFamily("sd1", "SD 1.x")),
        (
            {**SD1_KEYS, UNET + "input_blocks.0.0.weight": _z(320, 9, 3, 3)},
            ModelFamily("sd1", "SD 1.x inpainting", True),
        ),
        (SD2_KEYS, ModelFamily("sd2", "SD 2.x")),
        (
            {**SD2_KEYS, UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias": torch.linspace(-1, 1, 320)},
            ModelFamily("sd2-v", "SD 2.x 768-v", prediction="v_prediction"),
        ),
        (
            {**SD2_KEYS, UNET + "input_blocks.0.0.weight": _z(320, 9, 3, 3)},
            ModelFamily("sd2", "SD 2.x inpainting", True),
        ),
        (SDXL_KEYS, ModelFamily("sdxl", "SDXL")),
        ({**SDXL_KEYS, "v_pred": _z(0)}, ModelFamily("sdxl", "SDXL v-prediction", prediction="v_prediction")),
        (
            {**SDXL_KEYS, UNET + "input_blocks.0.0.weight": _z(320, 9, 3, 3)},
            ModelFamily("sdxl", "SDXL inpainting", True),
        ),
        (  # sd_xl_refiner_1.0: OpenCLIP-G is the conditioner's first embedder
            {"conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": _z(1), **SD1_KEYS},
            ModelFamily("sdxl-refiner", "SDXL refiner"),
        ),
    ],
)
def test_detect_family_from_keys_and_shapes(state_dict: dict, expected: ModelFamily) -> None:
    assert detect_family(state_dict) == expected


@pytest.mark.parametrize(
    ("state_dict", "reason"),
    [
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": _z(4, 320)}, "LoRA, put it in models/Lora"),
        ({"unet.down_blocks.0.attn.to_q.lora_A.weight": _z(4, 320)}, "LoRA, put it in models/Lora"),
        ({"encoder.conv_in.weight": _z(1), "decoder.conv_in.weight": _z(1)}, "VAE, put it in models/VAE"),
        ({"emb_params": _z(2, 768)}, "models/embeddings"),
        ({"foo.bar": _z(3), "baz": _z(1)}, "not a Stable Diffusion checkpoint"),
        ({UNET + "input_blocks.0.0.weight": _z(1, 4, 1, 1)}, "no text encoder"),
        (
            {UNET + "joint_blocks.0.context_block.adaLN_modulation.1.bias": _z(9216), UNET + "pos_embed": _z(1, 36864)},
            "Stable Diffusion 3",
        ),
        ({UNET + "double_blocks.0.img_attn.norm.key_norm.scale": _z(1)}, "Flux"),
        ({"control_model.time_embed.0.weight": _z(1)}, "models/ControlNet"),
        ({}, "no tensors"),
    ],
)
def test_other_files_are_unsupported_with_a_reason(state_dict: dict, reason: str) -> None:
    with pytest.raises(UnsupportedModel, match=reason):
        detect_family(state_dict)


# ------------------------------------------------------------------------------- configs, tokenizers


@pytest.mark.parametrize("family", FAMILIES)
def test_config_folders_describe_the_real_architectures(family: str) -> None:
    folder = config_dir(ModelFamily(family, family))
    unet = UNet2DConditionModel.load_config(str(folder), subfolder="unet")
    vae = AutoencoderKL.load_config(str(folder), subfolder="vae")
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    index = json.loads((folder / "model_index.json").read_text())
    text = CLIPTextConfig.from_pretrained(str(folder), subfolder="text_encoder")
    assert scheduler["steps_offset"] == 1
    expected = {
        "sd1": (768, 8, False, 0.18215, "quick_gelu", "PNDMScheduler", "epsilon"),
        "sd2": (1024, [5, 10, 20, 20], True, 0.18215, "gelu", "PNDMScheduler", "epsilon"),
        "sd2-v": (1024, [5, 10, 20, 20], True, 0.18215, "gelu", "PNDMScheduler", "v_prediction"),
        "sdxl": (2048, [5, 10, 20], True, 0.13025, "quick_gelu", "EulerDiscreteScheduler", "epsilon"),
    }[family]
    got = (
        unet["cross_attention_dim"],
        unet["attention_head_dim"],
        unet.get("use_linear_projection", False),
        vae["scaling_factor"],
        text.hidden_act,
        scheduler["_class_name"],
        scheduler["prediction_type"],
    )
    assert got == expected
    if family == "sdxl":
        assert unet["addition_embed_type"] == "text_time" and "safety_checker" not in index
        config_2 = CLIPTextConfig.from_pretrained(str(folder), subfolder="text_encoder_2")
        with init_empty_weights():
            encoder_2 = CLIPTextModelWithProjection(config_2)
        assert encoder_2.text_projection.weight.shape == (1280, 1280) and config_2.hidden_act == "gelu"
    else:
        assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]


@pytest.mark.parametrize(
    ("folder", "pad_id"),
    [
        ("sd1/tokenizer", 49407),
        ("sd2/tokenizer", 0),
        ("sd2-v/tokenizer", 0),
        ("sdxl/tokenizer", 49407),
        ("sdxl/tokenizer_2", 0),
    ],
)
def test_tokenizers_match_clip_ids_and_padding(folder: str, pad_id: int) -> None:
    tokenizer = sf.load_tokenizer(sf.CONFIGS / folder)
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    # "!" stays an ordinary BPE token (open_clip gives "!!</w>" = 748) even where "!" is the pad.
    assert tokenizer("cat!!").input_ids == [49406, 2368, 748, 49407]
    assert tokenizer("a", padding="max_length", max_length=77).input_ids[3:] == [pad_id] * 74


# ------------------------------------------------------------------------------------------- loading


def test_separate_vae_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    family = ModelFamily("sd1", "SD 1.x")
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(config_dir(family)), subfolder="vae"))
    bare = write_original_vae(vae, tmp_path / "vae.safetensors")
    write_original_vae(vae, tmp_path / "prefixed.safetensors", prefix="first_stage_model.")
    expected = {k: v.half() for k, v in vae.state_dict().items()}
    del vae
    gc.collect()
    for name in ("vae.safetensors", "prefixed.safetensors"):
        loaded = load_vae_file(tmp_path / name, family, dtype=torch.float16)
        assert loaded.config.scaling_factor == 0.18215
        got = loaded.state_dict()
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in expected)
        del loaded, got
    assert "encoder.conv_in.weight" in bare
    with pytest.raises(UnsupportedModel, match="does not look like a VAE"):
        save_file({"foo": torch.zeros(1)}, str(tmp_path / "not_vae.safetensors"))
        load_vae_file(tmp_path / "not_vae.safetensors", family, dtype=torch.float16)


def _tiny_sd1_configs(root: Path) -> Path:
    """configs/sd1 with the same block layout but tiny widths, so a whole pipeline loads in seconds."""
    folder = root / "sd1"
    shutil.copytree(config_dir(ModelFamily("sd1", "SD 1.x")), folder)

    def patch(sub: str, name: str, **changes: object) -> None:
        path = folder / sub / name
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    patch("unet", "config.json", block_out_channels=[32, 32, 64, 64], cross_attention_dim=32, attention_head_dim=4)
    patch("vae", "config.json", block_out_channels=[32, 32, 32, 32])
    patch(
        "text_encoder", "config.json", hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2
    )
    return root


def _random_sd1_pipeline(folder: Path, *, in_channels: int = 4) -> StableDiffusionPipeline:
    torch.manual_seed(0)
    unet_config = dict(UNet2DConditionModel.load_config(str(folder), subfolder="unet"), in_channels=in_channels)
    return StableDiffusionPipeline(
        unet=UNet2DConditionModel.from_config(unet_config),
        vae=AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder), subfolder="vae")),
        text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder), subfolder="text_encoder")),
        tokenizer=sf.load_tokenizer(folder / "tokenizer"),
        scheduler=sf._scheduler(folder, ModelFamily("sd1", "SD 1.x")),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _assert_same_weights(pipe, written: dict[str, torch.Tensor]) -> None:
    """Every tensor of the loaded UNet, VAE and text encoder equals the one written to the file."""
    loaded = unet_to_original(pipe.unet.state_dict())
    loaded.update(vae_to_original(pipe.vae.state_dict()))
    loaded.update(clip_to_original(pipe.text_encoder.state_dict()))
    assert set(loaded) == set(written) - {"alphas_cumprod"}
    mismatched = [k for k in loaded if not torch.equal(loaded[k].to(written[k].dtype), written[k])]
    assert mismatched == []


@pytest.mark.parametrize(("inpainting", "suffix"), [(False, ".safetensors"), (True, ".safetensors"), (False, ".ckpt")])
def test_tiny_checkpoint_loads_offline_with_our_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inpainting: bool, suffix: str
) -> None:
    """The real loading code on a tiny SD 1.x-layout model (configs/sd1 with small widths)."""
    monkeypatch.setattr(sf, "CONFIGS", _tiny_sd1_configs(tmp_path / "configs"))
    source = _random_sd1_pipeline(sf.CONFIGS / "sd1", in_channels=9 if inpainting else 4)
    path = tmp_path / f"tiny{suffix}"
    written = write_original_checkpoint(source, path, dtype=None)
    del source
    family = ModelFamily("sd1", "SD 1.x inpainting" if inpainting else "SD 1.x", inpainting=inpainting)
    pipe = load_single_file(path, family, dtype=torch.float32)
    assert type(pipe).__name__ == ("StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline")
    assert type(pipe.scheduler).__name__ == "PNDMScheduler" and pipe.safety_checker is None
    assert pipe.unet.config.in_channels == (9 if inpainting else 4)
    _assert_same_weights(pipe, written)
    if not inpainting:
        latents = pipe("a cat", num_inference_steps=1, height=64, width=64, output_type="latent").images
        assert latents.shape == (1, 4, 8, 8) and torch.isfinite(latents).all()


def test_wrong_family_is_a_checkpoint_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sf, "CONFIGS", _tiny_sd1_configs(tmp_path / "configs"))
    path = tmp_path / "tiny.safetensors"
    write_original_checkpoint(_random_sd1_pipeline(sf.CONFIGS / "sd1", in_channels=9), path, dtype=None)
    with pytest.raises(CheckpointError, match="could not be loaded as SD 1.x"):
        load_single_file(path, ModelFamily("sd1", "SD 1.x"), dtype=torch.float32)


@pytest.mark.slow
def test_full_sd15_checkpoint_round_trip(tmp_path: Path) -> None:
    """A full-size SD 1.5 architecture (random weights, ~2 GB fp16 file) detected and loaded offline."""
    folder = config_dir(ModelFamily("sd1", "SD 1.x"))
    source = _random_sd1_pipeline(folder)
    source.to(torch.float16)  # halves the RAM held while writing
    path = tmp_path / "sd15.safetensors"
    write_original_checkpoint(source, path)
    del source
    gc.collect()

    state_dict = read_state_dict(path)
    assert len(state_dict) > 1100
    family = detect_family(state_dict)
    assert family == ModelFamily("sd1", "SD 1.x")
    del state_dict
    gc.collect()

    started = time.perf_counter()
    pipe = load_single_file(path, family, dtype=torch.float16)
    print(f"load_single_file: {time.perf_counter() - started:.1f} s")
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"
    _assert_same_weights(pipe, read_state_dict(path))
    del pipe
    gc.collect()
