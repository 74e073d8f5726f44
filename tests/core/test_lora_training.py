"""LoRA training on tiny random models: the file it writes is kohya's format with A1111's metadata, the app loads
it and it changes the picture, the base checkpoint draws bit for bit as before, an interrupted run writes nothing
and resumes where it stopped, and what cannot be trained is refused with the reason."""

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
from modules.core.results import JobControl
from modules.engine.generation import generate
from modules.engine.lora_training import kohya
from modules.engine.lora_training.buckets import bucket_sizes, fit, nearest_bucket
from modules.engine.lora_training.trainer import Example, TrainSettings, train_lora
from modules.engine.models.loras import read_header
from modules.engine.models.manager import ModelManager
from modules.service import lora_trainer
from modules.service.jobs import NotAllowed
from modules.service.lora_trainer import LoraTrainRequest, TrainImage
from tests.core.conftest import tiny_sdxl_pipeline
from training import shapes

BASE = GenerationRequest(prompt="a red circle", sampler="Euler", steps=3, cfg_scale=5.0, width=32, height=32,
                         checkpoint="tiny-a", seed=3)


def pictures(n: int = 3, size: int = 32) -> tuple[TrainImage, ...]:
    out = []
    for i in range(n):
        sample = shapes.training_sample(100 + i, size)
        out.append(TrainImage(sample.image, sample.caption))
    return tuple(out)


@pytest.fixture
def lora_models(tiny_models_dir, cpu_fp32, tmp_path):
    manager = ModelManager(checkpoints_dir=tiny_models_dir / "Stable-diffusion", vae_dir=tiny_models_dir / "VAE",
                           cache_file=tmp_path / "c.json", device=cpu_fp32, lora_dir=tmp_path / "Lora")
    manager.refresh()
    return manager


def request(**changes) -> LoraTrainRequest:
    base = LoraTrainRequest(name="blotch", checkpoint="tiny-a", init_images=pictures(), trigger="blotchy", steps=6,
                            rank=4, learning_rate=5e-2, batch_size=2, resolution=32, sample_every=3,
                            sample_prompt="a red circle, blotchy")
    return replace(base, **changes)


def draw(manager, samplers, prompt: str) -> np.ndarray:
    result = generate(validate(replace(BASE, prompt=prompt), samplers=samplers), manager, samplers)
    return np.asarray(result.images[0], dtype=np.int16)


def test_a_trained_lora_is_kohya_format_loads_in_the_app_and_leaves_the_base_exact(lora_models, samplers, tmp_path):
    before = draw(lora_models, samplers, "a red circle")
    steps_seen = []
    control = JobControl(on_step=lambda info: steps_seen.append((info.step, info.loss, len(info.samples))))
    result = lora_trainer.run(lora_trainer.check(request(), lora_models), lora_models, control, tmp_path / "state")
    assert result.lora == "blotch" and not result.interrupted and result.steps_done == 6
    path = Path(result.path)
    header, _ = read_header(path)
    keys = [k for k in header if k != "__metadata__"]
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    assert any(k.endswith(".lora_down.weight") for k in keys) and any(k.endswith(".alpha") for k in keys)
    meta = header["__metadata__"]
    assert meta["modelspec.trigger_phrase"] == "blotchy"
    assert meta["ss_sd_model_name"] == "tiny-a" and len(meta["ss_new_sd_model_hash"]) == 64
    assert json.loads(meta["ss_tag_frequency"])["dataset"]["blotchy"] == 3
    # Progress: every step with its loss; the samples drawn at step 3 stay in the later reports.
    assert [s for s, _, _ in steps_seen][:6] == [1, 2, 3, 4, 5, 6]
    assert all(loss > 0 for _, loss, _ in steps_seen)
    assert steps_seen[1][2] == 0 and steps_seen[3][2] == 1
    # Listed at once, with its sample as the card picture, and A1111's trigger words.
    info = lora_models.find_lora("blotch")
    assert info is not None and info.preview == path.with_suffix(".png") and info.trigger_words == ["blotchy"]
    assert result.images and result.images[0].size == (32, 32)
    after = draw(lora_models, samplers, "a red circle")
    assert np.array_equal(before, after), "training changed the base checkpoint's pictures"
    with_lora = draw(lora_models, samplers, "a red circle <lora:blotch:1>")
    assert np.abs(with_lora - before).mean() > 1.0
    assert not (tmp_path / "state" / result.request.run_id).exists(), "the resumable state outlived the run"


def test_an_interrupted_training_writes_nothing_and_resumes_where_it_stopped(lora_models, tmp_path):
    checked = lora_trainer.check(request(sample_every=0), lora_models)
    control = JobControl()

    def stop_at_three(info):
        if info.step == 3:
            control.interrupt.set()

    control.on_step = stop_at_three
    first = lora_trainer.run(checked, lora_models, control, tmp_path / "state")
    assert first.interrupted and first.steps_done == 3 and not first.lora
    assert not (tmp_path / "Lora" / "blotch.safetensors").exists()
    assert "Submit the same training again" in first.info
    # The same request again (as after a restart, or submitted anew) continues at step 4, not from the start.
    again = lora_trainer.check(request(sample_every=0), lora_models)
    assert again.run_id == checked.run_id
    reports = []
    second = lora_trainer.run(again, lora_models, JobControl(on_step=lambda info: reports.append(info.step)),
                              tmp_path / "state")
    assert reports[0] == 4 and second.steps_done == 6
    assert second.losses[:3] == first.losses
    assert (tmp_path / "Lora" / "blotch.safetensors").is_file()


def test_an_existing_name_is_refused_and_the_file_is_never_replaced(lora_models, tmp_path):
    (tmp_path / "Lora").mkdir()
    mine = tmp_path / "Lora" / "blotch.safetensors"
    mine.write_bytes(b"my own lora")
    lora_models.refresh()
    with pytest.raises(RequestError, match="already exists"):
        lora_trainer.check(request(), lora_models)
    with pytest.raises(kohya.LoraExists):
        kohya.write_lora({"x": torch.zeros(1)}, {}, mine)
    assert mine.read_bytes() == b"my own lora"


@pytest.mark.parametrize("change, message", [
    ({"init_images": ()}, "Add pictures"),
    ({"name": "../escape"}, "not allowed"),
    ({"rank": 0}, "Rank must be"),
    ({"learning_rate": 2.0}, "Learning rate"),
    ({"text_encoder_lr": 0.5}, "Text encoder learning rate"),
    ({"checkpoint": "nope"}, "not found"),
])
def test_bad_training_requests_are_refused_with_what_to_do(lora_models, change, message):
    with pytest.raises(RequestError, match=message):
        lora_trainer.check(request(**change), lora_models)


def test_flux_class_and_inpainting_checkpoints_are_refused_by_name(lora_models):
    info = lora_models.resolve("tiny-a")
    for family, inpainting, words in (("flux", False, "Flux-class"), ("sd1", True, "inpainting")):
        lora_models.checkpoints.find = lambda query, i=replace(info, family=family, inpainting=inpainting): i
        with pytest.raises(RequestError, match=words):
            lora_trainer.check(request(), lora_models)


def test_admins_limit_who_may_train_and_how_many_steps():
    settings = {lora_trainer.WHO_SETTING: "admins", lora_trainer.MAX_STEPS_SETTING: 100,
                lora_trainer.MAX_MINUTES_SETTING: 2}
    with pytest.raises(NotAllowed, match="Only admins"):
        lora_trainer.check_allowed(settings, "bob", False, request())
    settings[lora_trainer.WHO_SETTING] = "everyone"
    with pytest.raises(RequestError, match="at most 100"):
        lora_trainer.check_allowed(settings, "bob", False, request(steps=500))
    assert lora_trainer.check_allowed(settings, "bob", False, request(steps=50)).max_seconds == 120
    assert lora_trainer.check_allowed(settings, "root", True, request(steps=500)).max_seconds == 0


def test_captions_come_from_the_picture_then_its_infotext_then_the_typed_one_and_end_with_the_trigger():
    from PIL.PngImagePlugin import PngInfo
    import io

    info = PngInfo()
    info.add_text("parameters", "a blue star <lora:other:0.5>\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    with_infotext = Image.open(io.BytesIO(buffer.getvalue()))
    plain = Image.new("RGB", (8, 8))
    assert lora_trainer.caption_of(TrainImage(with_infotext, "typed here"), "", "pinkish") == "typed here, pinkish"
    assert lora_trainer.caption_of(TrainImage(with_infotext), "fallback", "pinkish") == "a blue star, pinkish"
    assert lora_trainer.caption_of(TrainImage(plain), "fallback", "pinkish") == "fallback, pinkish"
    assert lora_trainer.caption_of(TrainImage(plain, "pinkish, a cat"), "", "pinkish") == "pinkish, a cat"


def test_buckets_keep_the_pictures_shape_within_the_area():
    sizes = bucket_sizes(512, 64)
    assert (512, 512) in sizes and all(w * h <= 512 * 512 and w % 64 == 0 and h % 64 == 0 for w, h in sizes)
    assert nearest_bucket((1920, 1080), sizes) == (640, 384)
    assert nearest_bucket((600, 600), sizes) == (512, 512)
    assert fit(Image.new("RGB", (1920, 1080)), (640, 384)).size == (640, 384)


def test_an_sdxl_lora_is_written_with_the_original_block_names_and_diffusers_loads_it_back():
    pipe = tiny_sdxl_pipeline()
    examples = [Example(p.image, p.caption) for p in pictures(2, 16)]
    outcome = train_lora(pipe, examples, TrainSettings(steps=2, rank=2, alpha=2, learning_rate=1e-2, resolution=16))
    assert not any("lora" in name for name, _ in pipe.unet.named_parameters()), "the adapter stayed on the UNet"
    tensors = kohya.to_kohya(outcome.layers, 2, "sdxl", outcome.layers_per_block)
    # layers_per_block 1: the attention of level 1 is the original UNet's input block 1 + 1*2 + 0 = 3.
    assert any(k.startswith("lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q") for k in tensors)
    assert any(k.startswith("lora_unet_output_blocks_0_1_") for k in tensors)
    assert not any("down_blocks" in k or "up_blocks" in k for k in tensors)
    with torch.no_grad():
        for layer in outcome.layers.values():  # make the effect visible: trained for 2 steps it is tiny
            layer[1].normal_(0, 0.5)
    tensors = kohya.to_kohya(outcome.layers, 2, "sdxl", outcome.layers_per_block, dtype=torch.float32)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    embeds = torch.randn(1, 77, 40, generator=torch.Generator().manual_seed(1))
    pooled = pipe.text_encoder_2.config.projection_dim
    cond = {"text_embeds": torch.randn(1, pooled), "time_ids": torch.tensor([[16, 16, 0, 0, 16, 16]], dtype=torch.float32)}
    with torch.no_grad():
        plain = pipe.unet(latents, 10, embeds, added_cond_kwargs=cond).sample
        pipe.load_lora_weights(tensors, adapter_name="trained")
        loaded = pipe.unet(latents, 10, embeds, added_cond_kwargs=cond).sample
    peft_layers = [n for n, _ in pipe.unet.named_parameters() if "lora_A.trained" in n]
    assert len(peft_layers) == len(outcome.layers), "some trained layers were not matched on loading"
    assert (loaded - plain).abs().max() > 1e-3


def test_a_text_encoder_lora_is_saved_as_lora_te_keys_the_app_loads_and_the_encoder_stays_exact(
        lora_models, samplers, tmp_path):
    with lora_models.use("tiny-a") as loaded:
        encoder = loaded.pipe.text_encoder
        before = {k: v.clone() for k, v in encoder.state_dict().items()}
        grads_before = {n: p.requires_grad for n, p in encoder.named_parameters()}
    result = lora_trainer.run(lora_trainer.check(request(text_encoder_lr=5e-2, sample_every=0), lora_models),
                              lora_models, JobControl(), tmp_path / "state")
    header, _ = read_header(Path(result.path))
    keys = [k for k in header if k != "__metadata__"]
    text_keys = [k for k in keys if k.startswith("lora_te_")]
    # kohya's names, with the `text_model` level transformers 5 no longer has in its module paths.
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in text_keys
    assert any(k.startswith("lora_te_text_model_encoder_layers_0_mlp_fc2.") for k in text_keys)
    assert any(k.startswith("lora_unet_") for k in keys)
    assert header["__metadata__"]["ss_text_encoder_lr"] == "0.05"
    assert header["__metadata__"]["ss_network_train_unet_only"] == "False"
    with lora_models.use("tiny-a") as loaded:
        encoder = loaded.pipe.text_encoder
        assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items()), "the encoder changed"
        assert {n: p.requires_grad for n, p in encoder.named_parameters()} == grads_before
        assert not encoder._forward_hooks and not any(m._forward_hooks for m in encoder.modules())
    # diffusers loads the text-encoder half back: with the LoRA on, the caption's embedding is not the base one.
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(lora_models.resolve("tiny-a").path), safety_checker=None)
    ids = pipe.tokenizer(["a red circle, blotchy"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        plain = pipe.text_encoder(ids)[0]
        pipe.load_lora_weights(result.path, adapter_name="trained")
        with_lora = pipe.text_encoder(ids)[0]
    assert any("lora_A.trained" in n for n, _ in pipe.text_encoder.named_parameters()), "no text-encoder layer loaded"
    assert (with_lora - plain).abs().max() > 1e-4


def test_sdxl_text_encoder_loras_are_named_lora_te1_and_lora_te2():
    pipe = tiny_sdxl_pipeline()
    examples = [Example(p.image, p.caption) for p in pictures(2, 16)]
    outcome = train_lora(pipe, examples, TrainSettings(steps=2, rank=2, alpha=2, learning_rate=1e-2, resolution=16,
                                                       text_encoder_lr=1e-2))
    names = set(outcome.text_layers)
    assert any(n.startswith("lora_te1_text_model_encoder_layers_0_self_attn_") for n in names)
    assert any(n.startswith("lora_te2_text_model_encoder_layers_0_mlp_fc1") for n in names)
    assert all(n.startswith(("lora_te1_", "lora_te2_")) for n in names)
    moved = [up for _, up in outcome.text_layers.values() if up.abs().max() > 0]
    assert moved, "the text encoders' LoRA did not train"
