"""SDXL refiner checkpoints on a tiny random SDXL base and refiner: detected from their files, loaded offline,
refining SDXL pictures with A1111's aesthetic scores, refused alone in txt2img and after another family."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine import pipelines, refiner
from modules.engine.generation import generate
from modules.engine.models import single_file as sf
from modules.engine.models.registry import CheckpointInfo
from modules.engine.models.single_file import ModelFamily, detect_family

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=16, height=16, steps=5, seed=7,
                         cfg_scale=5.0, checkpoint="tiny-xl", sampler="Euler a")
REFINED = replace(BASE, refiner_checkpoint="tiny-xl-refiner", refiner_switch_at=0.8)
UNET = "model.diffusion_model."


@pytest.fixture(scope="module")
def xl_models_dir(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_refiner import save_sdxl_pair

    root = tmp_path_factory.mktemp("xl-refiner-models")
    save_sdxl_pair(root / "Stable-diffusion")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def xl_manager(xl_models_dir, cpu_fp32, tmp_path):
    from tests.fixtures.tiny import tiny_manager

    return tiny_manager(xl_models_dir, cpu_fp32, tmp_path / "cache.json")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _record(manager, name: str, calls: list):
    unet = manager.load(manager.resolve(name)).pipe.unet

    def hook(module, args, kwargs, output):
        calls.append((name, args[0].detach().clone(), kwargs["added_cond_kwargs"]["time_ids"].detach().clone()))

    return unet.register_forward_hook(hook, with_kwargs=True)


# ------------------------------------------------------------------------------------ detection, configs


def test_a_diffusers_refiner_folder_is_listed_as_an_sdxl_refiner(xl_manager):
    info = xl_manager.resolve("tiny-xl-refiner")
    assert (info.family, info.family_label, info.usable) == ("sdxl-refiner", "SDXL refiner", True)
    assert xl_manager.resolve("tiny-xl").family == "sdxl"
    assert {i.name for i in xl_manager.checkpoints.usable()} == {"tiny-xl", "tiny-xl-refiner"}


def test_a_single_file_refiner_is_detected_from_its_openclip_only_conditioner():
    # sd_xl_refiner_1.0.safetensors: the OpenCLIP-G encoder is the conditioner's first (and only text) embedder.
    state_dict = {UNET + "input_blocks.0.0.weight": torch.zeros(384, 4, 3, 3),
                  "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": torch.zeros(1)}
    assert detect_family(state_dict) == ModelFamily("sdxl-refiner", "SDXL refiner")


def test_the_shipped_config_describes_the_real_refiner_1_0():
    from accelerate import init_empty_weights
    from diffusers import StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    family = ModelFamily("sdxl-refiner", "SDXL refiner")
    folder = sf.config_dir(family)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLImg2ImgPipeline" and index["requires_aesthetics_score"] is True
    assert index["text_encoder"] == [None, None] and index["tokenizer"] == [None, None]
    unet = UNet2DConditionModel.load_config(str(folder), subfolder="unet")
    text = CLIPTextConfig.from_pretrained(str(folder), subfolder="text_encoder_2")
    assert unet["block_out_channels"] == [384, 768, 1536, 1536] and unet["cross_attention_dim"] == text.hidden_size
    # 5 time ids (sizes, crop, aesthetic score) of 256 each, and OpenCLIP-G's pooled vector.
    assert unet["projection_class_embeddings_input_dim"] == 5 * unet["addition_time_embed_dim"] + text.projection_dim
    with init_empty_weights():
        model = UNet2DConditionModel.from_config(unet)
        CLIPTextModelWithProjection(text)
    attention = model.down_blocks[1].attentions[0]
    assert len(attention.transformer_blocks) == 4 and attention.transformer_blocks[0].attn1.heads * 64 == 768
    assert [type(b).__name__ for b in model.down_blocks] == ["DownBlock2D", "CrossAttnDownBlock2D",
                                                            "CrossAttnDownBlock2D", "DownBlock2D"]
    assert 2.2e9 < sum(p.numel() for p in model.parameters()) < 2.3e9  # the refiner's 2.3B-parameter UNet
    assert sf._pipeline_class(family) is StableDiffusionXLImg2ImgPipeline
    assert sf.load_tokenizer(sf.CONFIGS / "sdxl" / "tokenizer_2")("a", padding="max_length").input_ids[3] == 0


# ---------------------------------------------------------------------------------------------- loading


def test_the_refiner_loads_offline_as_an_img2img_pipeline_with_aesthetic_scores(xl_manager):
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    pipe = xl_manager.load(xl_manager.resolve("tiny-xl-refiner")).pipe
    assert type(pipe).__name__ == "StableDiffusionXLImg2ImgPipeline" and pipe.text_encoder is None
    assert pipelines.needs_aesthetic_score(pipe)
    assert pipelines.aesthetic(pipe, 7.0, 1.0) == {"aesthetic_score": 7.0, "negative_aesthetic_score": 1.0}
    assert pipelines.aesthetic(xl_manager.load(xl_manager.resolve("tiny-xl")).pipe) == {}


# -------------------------------------------------------------------------------------------- refining


def test_sdxl_base_then_refiner_at_0_8_changes_only_the_refiners_steps(xl_manager, samplers):
    plain_calls: list = []
    handle = _record(xl_manager, "tiny-xl", plain_calls)
    plain = generate(validate(BASE), xl_manager, samplers)
    handle.remove()
    calls: list = []
    handles = [_record(xl_manager, name, calls) for name in ("tiny-xl", "tiny-xl-refiner")]
    refined = generate(validate(REFINED), xl_manager, samplers)
    for h in handles:
        h.remove()
    assert [name for name, _, _ in calls] == ["tiny-xl"] * 4 + ["tiny-xl-refiner"]
    for (_, sample, _), (_, plain_sample, _) in zip(calls, plain_calls):
        assert sample.equal(plain_sample)  # the base's 4 steps, then the refiner from the very same latents
    # The refiner's time ids end with A1111's aesthetic scores: 2.5 for the negative prompt, 6 for the prompt.
    assert calls[-1][2][:, -1].tolist() == [2.5, 6.0] and calls[-1][2].shape[1] == 5
    assert not np.array_equal(pixels(plain.images[0]), pixels(refined.images[0]))  # one late, low-noise step
    assert "Refiner: tiny-xl-refiner [" in refined.infotexts[0]
    # The options' scores reach the refiner.
    calls.clear()
    handle = _record(xl_manager, "tiny-xl-refiner", calls)
    generate(validate(replace(REFINED, aesthetic_score=9.0, negative_aesthetic_score=0.5)), xl_manager, samplers)
    handle.remove()
    assert calls[-1][2][:, -1].tolist() == [0.5, 9.0]


def test_the_refiner_alone_refines_in_img2img_but_is_refused_in_txt2img(xl_manager, samplers):
    info = xl_manager.resolve("tiny-xl-refiner")
    alone = validate(replace(BASE, checkpoint="tiny-xl-refiner"))
    with pytest.raises(RequestError, match="tiny-xl-refiner is an SDXL refiner: it refines pictures") as refused:
        refiner.check(alone, info, xl_manager)
    assert "img2img" in str(refused.value)
    with pytest.raises(pipelines.PipelineError, match="SDXL refiner"):
        generate(alone, xl_manager, samplers)
    picture = Image.new("RGB", (16, 16), (200, 40, 40))
    img2img = validate(replace(alone, mode="img2img", init_images=(picture,), denoising_strength=0.5))
    refiner.check(img2img, info, xl_manager)
    calls: list = []
    handle = _record(xl_manager, "tiny-xl-refiner", calls)
    result = generate(img2img, xl_manager, samplers)
    handle.remove()
    assert len(result.images) == 1 and result.images[0].size == (16, 16)
    assert calls and all(c[2][:, -1].tolist() == [2.5, 6.0] for c in calls)


def test_an_sd1_checkpoint_with_the_sdxl_refiner_is_refused_naming_both(xl_manager):
    sd15 = CheckpointInfo(name="v1-5-pruned-emaonly.safetensors", path=Path("v1-5.safetensors"),
                          kind="single_file", family="sd1", family_label="SD 1.x")
    request = validate(replace(REFINED, checkpoint=sd15.name))
    with pytest.raises(RequestError) as refused:
        refiner.check(request, sd15, xl_manager)
    message = str(refused.value)
    assert "tiny-xl-refiner" in message and "SDXL refiner" in message
    assert "v1-5-pruned-emaonly.safetensors" in message and "SD 1.x" in message
    # ...while the SDXL base takes it, and the refiner takes the SDXL base as its own refiner.
    refiner.check(validate(REFINED), xl_manager.resolve("tiny-xl"), xl_manager)
    assert refiner.family_error(xl_manager.resolve("tiny-xl"), xl_manager.resolve("tiny-xl-refiner")) is None


@pytest.mark.parametrize("bad", [-1, 10.5, "high", float("nan")])
def test_an_aesthetic_score_outside_0_10_is_refused(bad):
    with pytest.raises(RequestError, match="aesthetic score must be"):
        validate(replace(BASE, aesthetic_score=bad))
    with pytest.raises(RequestError, match="aesthetic score"):
        validate(replace(BASE, negative_aesthetic_score=bad))


# ------------------------------------------------------------------------------------------ single file


def _tiny_refiner_configs(folder: Path, out: Path) -> Path:
    """A config folder like configs/sdxl-refiner but of the tiny refiner's sizes, and SDXL's real tokenizer_2."""
    import shutil

    for sub in ("unet", "vae", "text_encoder_2", "scheduler"):
        shutil.copytree(folder / sub, out / "sdxl-refiner" / sub, ignore=shutil.ignore_patterns("*.safetensors"))
    shutil.copy(folder / "model_index.json", out / "sdxl-refiner")
    shutil.copytree(sf.CONFIGS / "sdxl" / "tokenizer_2", out / "sdxl" / "tokenizer_2")
    return out


def test_a_single_file_refiner_in_the_original_layout_loads_offline_and_refines(xl_models_dir, cpu_fp32, tmp_path,
                                                                               monkeypatch, samplers):
    from tests.core.conftest import tiny_sdxl_pipeline
    from tests.fixtures.original_layout_xl import write_original_refiner
    from tests.fixtures.tiny import tiny_manager
    from tests.fixtures.tiny_refiner import tiny_refiner_pipeline

    real_tokenizer = sf.load_tokenizer(sf.CONFIGS / "sdxl" / "tokenizer_2")  # the loader insists on 49,408 tokens
    source = tiny_refiner_pipeline(tiny_sdxl_pipeline(), tokenizer=real_tokenizer)
    source.save_pretrained(str(tmp_path / "as-folder"))
    monkeypatch.setattr(sf, "CONFIGS", _tiny_refiner_configs(tmp_path / "as-folder", tmp_path / "configs"))
    models = tmp_path / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "VAE").mkdir()
    (models / "Stable-diffusion" / "tiny-xl").symlink_to(xl_models_dir / "Stable-diffusion" / "tiny-xl",
                                                         target_is_directory=True)
    path = models / "Stable-diffusion" / "sd_xl_refiner_tiny.safetensors"
    write_original_refiner(source, path)
    assert detect_family(sf.read_state_dict(path)) == ModelFamily("sdxl-refiner", "SDXL refiner")

    manager = tiny_manager(models, cpu_fp32, tmp_path / "cache.json")
    info = manager.resolve("sd_xl_refiner_tiny")
    assert (info.kind, info.family) == ("single_file", "sdxl-refiner")
    pipe = manager.load(info).pipe
    assert type(pipe).__name__ == "StableDiffusionXLImg2ImgPipeline" and pipe.text_encoder is None
    assert pipelines.needs_aesthetic_score(pipe)
    for name in ("unet", "vae", "text_encoder_2"):
        expected, loaded = getattr(source, name).state_dict(), getattr(pipe, name).state_dict()
        assert set(expected) == set(loaded) and all(expected[k].equal(loaded[k]) for k in expected), name
    result = generate(validate(replace(REFINED, refiner_checkpoint="sd_xl_refiner_tiny")), manager, samplers)
    assert "Refiner: sd_xl_refiner_tiny [" in result.infotexts[0]


def test_the_jobs_sdxl_loras_are_left_out_of_the_refiner_with_a_warning(xl_manager):
    from modules.engine.models.loras import LoraInfo

    sdxl_lora = LoraInfo(name="xl-style", path=Path("xl-style.safetensors"), family="sdxl")
    refiner_lora = LoraInfo(name="refiner-detail", path=Path("refiner-detail.safetensors"), family="sdxl-refiner")
    warnings: list[str] = []
    handover = refiner.handover(validate(REFINED), xl_manager, [(sdxl_lora, 1.0, 1.0), (refiner_lora, 0.5, 0.5)],
                                warnings)
    assert handover._fitting_loras() == [(refiner_lora, 0.5, 0.5)]
    assert warnings == ["LoRA xl-style is for SDXL models: the refiner tiny-xl-refiner (SDXL refiner) made its steps "
                        "without it."]
    # For a refiner of the checkpoint's own family every LoRA fits, as before.
    same = refiner.handover(validate(replace(REFINED, refiner_checkpoint="tiny-xl")), xl_manager,
                            [(sdxl_lora, 1.0, 1.0)], [])
    assert same._fitting_loras() == [(sdxl_lora, 1.0, 1.0)]


def test_the_refiner_as_the_hires_checkpoint_gets_the_jobs_aesthetic_scores(xl_manager, samplers):
    request = validate(replace(BASE, steps=3, enable_hr=True, hr_upscaler="Latent", denoising_strength=0.5,
                               hr_second_pass_steps=2, hr_checkpoint="tiny-xl-refiner", aesthetic_score=7.0,
                               negative_aesthetic_score=1.0))
    calls: list = []
    handle = _record(xl_manager, "tiny-xl-refiner", calls)
    result = generate(request, xl_manager, samplers)
    handle.remove()
    assert len(result.images) == 1
    assert calls and all(c[2][:, -1].tolist() == [1.0, 7.0] for c in calls)
