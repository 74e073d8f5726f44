"""Chroma, Z-Image, Qwen-Image, Flux Kontext, Flux Fill and the generic fallback, from tiny random diffusers folders:
detected from their configs, loaded offline, and drawn through our generation flow exactly as the bare diffusers
pipeline draws them from the same inputs; what a family cannot take is refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_flow_families as tiny
from tests.fixtures.tiny import tiny_manager

FOLDERS = {
    "tiny-chroma": tiny.save_tiny_chroma,
    "tiny-zimage": tiny.save_tiny_zimage,
    "tiny-qwen-image": tiny.save_tiny_qwen_image,
    "tiny-flux-kontext": tiny.save_tiny_flux_kontext,
    "tiny-flux-fill": tiny.save_tiny_flux_fill,
    "tiny-auraflow": tiny.save_tiny_auraflow,
}
RED = Image.new("RGB", (32, 32), (200, 30, 30))


@pytest.fixture(scope="module")
def families_dir(tmp_path_factory) -> Path:
    return tiny.save_models_dir(tmp_path_factory.mktemp("flow-families"), FOLDERS)


@pytest.fixture
def manager(families_dir, cpu_fp32, tmp_path):
    return tiny_manager(families_dir, cpu_fp32, tmp_path / "cache.json")


def _request(checkpoint: str, **fields) -> GenerationRequest:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=7)
    return replace(base, **fields)


def _bare(folder: Path, cls_name: str | None = None, **kwargs) -> Image.Image:
    import diffusers

    cls = getattr(diffusers, cls_name) if cls_name else diffusers.DiffusionPipeline
    pipe = cls.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe(**kwargs, generator=torch.Generator().manual_seed(7)).images[0]


def _same(ours: Image.Image, bare: Image.Image) -> bool:
    return np.array_equal(np.asarray(ours), np.asarray(bare))


@pytest.mark.parametrize("name, family, label", [
    ("tiny-chroma", "chroma", "Chroma"),
    ("tiny-zimage", "zimage", "Z-Image"),
    ("tiny-qwen-image", "qwen-image", "Qwen-Image"),
    ("tiny-flux-kontext", "flux-kontext", "Kontext"),
    ("tiny-flux-fill", "flux-fill", "Fill"),
    ("tiny-auraflow", "generic", "AuraFlowPipeline (generic diffusers pipeline)"),
])
def test_each_family_is_detected_from_its_folder_and_listed_usable(manager, name, family, label):
    info = manager.resolve(name)
    assert info.usable and info.family == family and label in info.family_label


# (checkpoint, our fields, the bare pipeline's arguments): real CFG with a negative prompt where the family has it.
TXT2IMG = [
    ("tiny-chroma", {"cfg_scale": 3.0, "negative_prompt": "green"},
     {"guidance_scale": 3.0, "negative_prompt": "green"}),
    ("tiny-zimage", {"cfg_scale": 3.0, "negative_prompt": "green"},
     {"guidance_scale": 3.0, "negative_prompt": "green"}),
    ("tiny-qwen-image", {"cfg_scale": 2.5, "negative_prompt": "green"},
     {"true_cfg_scale": 2.5, "negative_prompt": "green"}),
    ("tiny-flux-kontext", {"cfg_scale": 1.0, "distilled_cfg_scale": 4.0}, {"guidance_scale": 4.0}),
    ("tiny-auraflow", {"cfg_scale": 2.0, "negative_prompt": "green"},
     {"guidance_scale": 2.0, "negative_prompt": "green"}),
]


@pytest.mark.parametrize("name, fields, bare_args", TXT2IMG, ids=[t[0] for t in TXT2IMG])
def test_txt2img_is_pixel_identical_to_the_bare_pipeline(manager, families_dir, name, fields, bare_args):
    request = _request(name, **fields)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = _bare(families_dir / "Stable-diffusion" / name, prompt=request.prompt, height=32, width=32,
                 num_inference_steps=3, **bare_args)
    assert _same(ours.images[0], bare)


IMG2IMG = [
    ("tiny-chroma", "ChromaImg2ImgPipeline", {"guidance_scale": 1.0, "negative_prompt": ""}),
    ("tiny-zimage", "ZImageImg2ImgPipeline", {"guidance_scale": 1.0, "negative_prompt": ""}),
    ("tiny-qwen-image", "QwenImageImg2ImgPipeline", {"true_cfg_scale": 1.0, "negative_prompt": ""}),
]


@pytest.mark.parametrize("name, cls_name, bare_args", IMG2IMG, ids=[t[0] for t in IMG2IMG])
def test_img2img_is_pixel_identical_to_the_bare_img2img_pipeline(manager, families_dir, name, cls_name, bare_args):
    request = _request(name, mode="img2img", init_images=(RED,), denoising_strength=0.6, steps=5)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = _bare(families_dir / "Stable-diffusion" / name, cls_name, prompt=request.prompt, image=RED, strength=0.6,
                 height=32, width=32, num_inference_steps=5, **bare_args)
    assert _same(ours.images[0], bare)
    assert "Denoising strength: 0.6" in ours.infotexts[0]


def test_a_kontext_edit_takes_the_reference_and_instruction_like_the_bare_pipeline(manager, families_dir):
    request = _request("tiny-flux-kontext", prompt="make the circle blue", mode="img2img", init_images=(RED,),
                       distilled_cfg_scale=2.5)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = _bare(families_dir / "Stable-diffusion" / "tiny-flux-kontext", image=RED, prompt=request.prompt,
                 guidance_scale=2.5, height=32, width=32, num_inference_steps=3, max_area=32 * 32,
                 _auto_resize=False)
    assert _same(ours.images[0], bare)
    assert "Edit references: 1" in ours.infotexts[0] and "Denoising strength" not in ours.infotexts[0]
    assert any("Denoising strength does not apply" in w for w in ours.warnings)
    blue = generate(replace(request, init_images=(Image.new("RGB", (32, 32), (20, 30, 220)),)), manager,
                    SamplerRegistry.default())
    assert not _same(blue.images[0], ours.images[0])  # the reference is used


def test_flux_fill_inpaints_like_the_bare_fill_pipeline_and_keeps_pixels_outside_the_mask(manager, families_dir):
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    request = _request("tiny-flux-fill", mode="inpaint", init_images=(RED,), mask=mask, mask_blur=0,
                       denoising_strength=1.0, distilled_cfg_scale=30.0)
    ours = generate(request, manager, SamplerRegistry.default()).images[0]
    bare = _bare(families_dir / "Stable-diffusion" / "tiny-flux-fill", prompt=request.prompt, image=RED,
                 mask_image=mask, strength=1.0, guidance_scale=30.0, height=32, width=32, num_inference_steps=3)
    inside = (slice(8, 24), slice(8, 24))
    assert np.array_equal(np.asarray(ours)[inside], np.asarray(bare)[inside])
    assert np.array_equal(np.asarray(ours)[:4], np.asarray(RED)[:4])  # outside the mask: the input, exactly


@pytest.mark.parametrize("name, fields, reason", [
    ("tiny-flux-fill", {}, "It is an inpainting model"),
    ("tiny-flux-fill", {"mode": "inpaint", "init_images": (RED,), "mask": Image.new("L", (32, 32), 255),
                        "cfg_scale": 3.0}, "no unguided pass"),
    ("tiny-flux-kontext", {"mode": "img2img", "init_images": (RED, RED)}, "at most 1 reference picture"),
    ("tiny-flux-kontext", {"mode": "inpaint", "init_images": (RED, RED, RED), "mask": Image.new("L", (32, 32), 255)},
     "inpaints one picture with at most 1 reference picture"),
    ("tiny-auraflow", {"mode": "inpaint", "init_images": (RED,), "mask": Image.new("L", (32, 32), 255)},
     "a checkpoint of a family that inpaints"),
    ("tiny-auraflow", {"mode": "img2img", "init_images": (RED,)}, "generic fallback"),
    ("tiny-zimage", {"subseed_strength": 0.5}, "Variation seeds"),
    ("tiny-qwen-image", {"sampler": "DPM++ 2M"}, "Choose one of: Euler"),
])
def test_what_a_family_cannot_take_is_refused_before_queueing_with_the_reason(manager, name, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve(name)
    with pytest.raises(RequestError, match=reason):
        check(_request(name, **fields), info.family, info.family_label, info.name)


def test_a_folder_naming_a_pipeline_diffusers_does_not_have_is_listed_unusable_with_the_reason(tmp_path, cpu_fp32):
    import json

    folder = tmp_path / "models" / "Stable-diffusion" / "mystery"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "NoSuchThingPipeline"}))
    manager = tiny_manager(tmp_path / "models", cpu_fp32, tmp_path / "cache.json")
    info = manager.checkpoints.all()[0]
    assert not info.usable and "NoSuchThingPipeline is not one diffusers" in info.error
    with pytest.raises(LookupError, match="NoSuchThingPipeline"):
        manager.resolve("mystery")


def test_a_folder_missing_its_tokenizer_is_listed_unusable_naming_the_file_and_where_to_put_it(tmp_path, cpu_fp32):
    import shutil

    folder = tiny.save_tiny_chroma(tmp_path / "models" / "Stable-diffusion" / "chroma-no-tokenizer")
    shutil.rmtree(folder / "tokenizer")
    manager = tiny_manager(tmp_path / "models", cpu_fp32, tmp_path / "cache.json")
    info = manager.checkpoints.all()[0]
    assert not info.usable
    assert "tokenizer/ folder" in info.error and str(folder / "tokenizer") in info.error


@pytest.fixture(scope="module")
def flux_sd3_dir(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_flow import save_tiny_flux, save_tiny_sd3

    root = tmp_path_factory.mktemp("flux-sd3")
    save_tiny_flux(root / "Stable-diffusion" / "tiny-flux-dev", guidance=True)
    save_tiny_sd3(root / "Stable-diffusion" / "tiny-sd3")
    (root / "VAE").mkdir()
    return root


@pytest.mark.parametrize("name, cls_name, bare_args", [
    ("tiny-sd3", "StableDiffusion3Img2ImgPipeline", {"guidance_scale": 3.0, "negative_prompt": "green"}),
    ("tiny-flux-dev", "FluxImg2ImgPipeline", {"true_cfg_scale": 3.0, "negative_prompt": "green",
                                              "guidance_scale": 3.5}),
])
def test_sd3_and_flux_img2img_are_pixel_identical_to_the_bare_img2img_pipeline(flux_sd3_dir, cpu_fp32, tmp_path,
                                                                              name, cls_name, bare_args):
    manager = tiny_manager(flux_sd3_dir, cpu_fp32, tmp_path / "cache.json")
    request = _request(name, mode="img2img", init_images=(RED,), denoising_strength=0.6, steps=5, cfg_scale=3.0,
                       negative_prompt="green")
    ours = generate(request, manager, SamplerRegistry.default())
    bare = _bare(flux_sd3_dir / "Stable-diffusion" / name, cls_name, prompt=request.prompt, image=RED, strength=0.6,
                 height=32, width=32, num_inference_steps=5, **bare_args)
    assert _same(ours.images[0], bare)


def test_a_qwen_image_edit_takes_the_reference_and_instruction_like_the_bare_pipeline(tmp_path, cpu_fp32,
                                                                                       monkeypatch):
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit as edit

    # The pipeline resizes its reference to ~1 megapixel whatever the model's size (minutes on tiny components);
    # both sides below call this module function, so a small area keeps the comparison exact.
    full_size = edit.calculate_dimensions
    monkeypatch.setattr(edit, "calculate_dimensions", lambda area, ratio: full_size(64 * 64, ratio))
    root = tmp_path / "models"
    folder = tiny.save_tiny_qwen_image_edit(root / "Stable-diffusion" / "tiny-qwen-edit")
    (root / "VAE").mkdir()
    manager = tiny_manager(root, cpu_fp32, tmp_path / "cache.json")
    assert manager.resolve("tiny-qwen-edit").family == "qwen-image-edit"
    request = _request("tiny-qwen-edit", prompt="make the circle blue", mode="img2img", init_images=(RED,), steps=2)
    ours = generate(request, manager, SamplerRegistry.default())
    bare = _bare(folder, image=RED, prompt=request.prompt, negative_prompt="", true_cfg_scale=1.0, height=32,
                 width=32, num_inference_steps=2)
    assert _same(ours.images[0], bare)


def test_distilled_cfg_scale_sent_to_an_sd_checkpoint_is_reported_not_silently_dropped(tiny_models_dir, cpu_fp32,
                                                                                       tmp_path):
    sd = tiny_manager(tiny_models_dir, cpu_fp32, tmp_path / "cache.json")
    request = GenerationRequest(prompt="a red circle", checkpoint="tiny-a", sampler="Euler", steps=2, width=32,
                                height=32, seed=1)
    plain = generate(request, sd, SamplerRegistry.default())
    sent = generate(replace(request, distilled_cfg_scale=6.0), sd, SamplerRegistry.default())
    assert not any("Distilled CFG Scale" in w for w in plain.warnings)
    assert any("Distilled CFG Scale has no effect" in w for w in sent.warnings)
