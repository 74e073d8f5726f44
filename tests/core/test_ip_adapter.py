"""IP-Adapter units on a tiny UNet, with tiny random adapters in the release's layout and tiny CLIP vision
encoders: the encoder chosen from the adapter's shapes, offline loading, the picture steering the result,
weight 0 and steps outside [start, end] leaving it exactly as without an adapter, the UNet put back after the
job, and the refusals (missing encoder, FaceID, wrong family, Flux, control mode)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.core.requests import ControlUnit, GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine.generation import generate
from modules.engine.models import ipadapters
from modules.engine.models.ipadapters import IPAdapterError
from tests.fixtures.ip_adapter import make_ipa_models_dir


@pytest.fixture(scope="session")
def ipa_models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    return make_ipa_models_dir(tmp_path_factory.mktemp("ipa-models"), tiny_models_dir)


def make_manager(root: Path, device, cache: Path, clip_vision: Path | None = None):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE", cache_file=cache,
                           device=device, controlnet_dir=root / "ControlNet", ipadapter_dir=root / "ipadapter",
                           clip_vision_dir=clip_vision or root / "clip_vision")
    manager.refresh()
    return manager


@pytest.fixture
def ipa_manager(ipa_models_dir, cpu_fp32, tmp_path, monkeypatch):
    # enc-b is a single file of an architecture no shipped config has: the test ships its own config for it.
    from modules.engine import image_embeddings
    from tests.fixtures.ip_adapter import clip_vision_config

    configs = tmp_path / "configs"
    clip_vision_config(hidden=40, projection=16).save_pretrained(configs / "clip-vision-tiny")
    real_load = image_embeddings.load
    monkeypatch.setattr(image_embeddings, "load", lambda info, dtype, device, configs=configs:
                        real_load(info, dtype, device, configs=configs))
    return make_manager(ipa_models_dir, cpu_fp32, tmp_path / "c.json")


def reference_picture() -> Image.Image:
    picture = Image.new("RGB", (48, 40), (20, 160, 40))
    ImageDraw.Draw(picture).ellipse((6, 4, 34, 32), fill=(240, 20, 20))
    return picture


BASE = GenerationRequest(prompt="a red circle", width=32, height=32, steps=4, seed=7, sampler="Euler")
UNIT = ControlUnit(image=reference_picture(), module="ip-adapter_clip_h", model="ip-adapter_tiny")


def run(manager, samplers, request):
    return generate(validate(request, samplers=samplers), manager, samplers)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def test_adapters_are_found_in_both_folders_and_read_from_their_shapes(ipa_manager):
    found = {i.name: i for i in ipa_manager.ipadapters}
    assert set(found) == {"ip-adapter_tiny", "ip-adapter_tiny_other", "ip-adapter-plus_tiny"}
    base, plus = found["ip-adapter_tiny"], found["ip-adapter-plus_tiny"]
    assert (base.family, base.kind, base.reads, base.width) == ("custom-32", "base", ipadapters.EMBEDS, 24)
    assert (plus.family, plus.kind, plus.reads, plus.width) == ("custom-32", "plus", ipadapters.HIDDEN, 40)
    assert not any(i.name.startswith("ip-adapter") for i in ipa_manager.controlnets if not i.error)
    assert ipa_manager.find_ip_adapter("ip-adapter_tiny [0123abcd]") is base


def test_the_encoder_is_chosen_by_what_the_adapter_reads(ipa_manager):
    checkpoint = ipa_manager.resolve("tiny-a")
    assert ipa_manager.usable_ip_adapter("ip-adapter_tiny", "ip-adapter-auto", checkpoint)[1].name == "enc-a"
    assert ipa_manager.usable_ip_adapter("ip-adapter-plus_tiny", "ip-adapter-auto", checkpoint)[1].name == "enc-b"


def test_the_published_sd15_and_sdxl_layouts_name_the_encoder_they_need():
    sd15 = {"image_proj.proj.weight": [3072, 1024], "image_proj.norm.weight": [768],
            "ip_adapter.1.to_k_ip.weight": [320, 768]}
    sdxl = {"image_proj.proj.weight": [8192, 1280], "image_proj.norm.weight": [2048],
            "ip_adapter.1.to_k_ip.weight": [640, 2048]}
    plus_vith = {"image_proj.latents": [1, 16, 1280], "image_proj.proj_in.weight": [1280, 1280],
                 "ip_adapter.1.to_k_ip.weight": [640, 2048]}
    faceid = {"image_proj.proj.0.weight": [1024, 512], "image_proj.norm.weight": [768],
              "ip_adapter.1.to_k_ip.weight": [320, 768]}
    assert ipadapters.describe_shapes(sd15)[:4] == ("sd1", "base", ipadapters.EMBEDS, 1024)
    assert ipadapters.describe_shapes(sdxl)[:4] == ("sdxl", "base", ipadapters.EMBEDS, 1280)
    assert ipadapters.describe_shapes(plus_vith)[:4] == ("sdxl", "plus", ipadapters.HIDDEN, 1280)
    assert "insightface" in ipadapters.describe_shapes(faceid)[4]
    info = ipadapters.IPAdapterInfo("ip-adapter_sd15", Path("ip-adapter_sd15.safetensors"), "sd1", "base",
                                    ipadapters.EMBEDS, 1024)
    with pytest.raises(IPAdapterError, match=r"needs the CLIP vision encoder ViT-H/14 .*Put "
                                             r"CLIP-ViT-H-14-laion2B-s32B-b79K\.safetensors .* in models/clip_vision"):
        ipadapters.choose_encoder(info, [], None)
    xl = replace(info, name="ip-adapter_sdxl", family="sdxl", width=1280)
    with pytest.raises(IPAdapterError, match="ViT-bigG/14 .*CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors"):
        ipadapters.choose_encoder(xl, [], None)
    with pytest.raises(IPAdapterError, match="ip-adapter_clip_sdxl preprocessor runs ViT-bigG/14, but IP-Adapter "
                                             "ip-adapter_sd15 needs ViT-H/14. Choose ip-adapter_clip_h"):
        ipadapters.check_module(info, "ip-adapter_clip_sdxl", "vit-bigg", True)


def test_the_reference_picture_steers_and_weight_zero_or_late_steps_leave_the_plain_picture(ipa_manager, samplers):
    plain = pixels(run(ipa_manager, samplers, BASE))
    steered = run(ipa_manager, samplers, replace(BASE, control_units=(UNIT,)))
    assert np.abs(pixels(steered) - plain).mean() > 1.0
    assert ('ControlNet 0: "Module: ip-adapter_clip_h, Model: ip-adapter_tiny, Weight: 1, Resize Mode: Crop and '
            'Resize' in steered.infotexts[0])
    again = run(ipa_manager, samplers, replace(BASE, control_units=(UNIT,)))
    assert np.array_equal(pixels(again), pixels(steered))  # the seed reproduces it
    zero = run(ipa_manager, samplers, replace(BASE, control_units=(replace(UNIT, weight=0.0),)))
    assert np.array_equal(pixels(zero), plain)
    late = run(ipa_manager, samplers, replace(BASE, control_units=(replace(UNIT, guidance_start=0.9),)))
    assert np.array_equal(pixels(late), plain)  # 4 steps evaluate at 0, .25, .5, .75: never inside [0.9, 1]
    half = run(ipa_manager, samplers, replace(BASE, control_units=(replace(UNIT, guidance_end=0.3),)))
    assert not np.array_equal(pixels(half), plain) and not np.array_equal(pixels(half), pixels(steered))


def test_after_the_job_the_unet_is_exactly_as_before(ipa_manager, samplers):
    plain = pixels(run(ipa_manager, samplers, BASE))
    unet = ipa_manager.load(ipa_manager.resolve("tiny-a")).pipe.unet
    processors = dict(unet.attn_processors)
    run(ipa_manager, samplers, replace(BASE, control_units=(replace(UNIT, model="ip-adapter-plus_tiny"),)))
    assert unet.encoder_hid_proj is None and unet.config.encoder_hid_dim_type is None
    assert all(unet.attn_processors[name] is p for name, p in processors.items())
    assert not unet._forward_pre_hooks
    assert np.array_equal(pixels(run(ipa_manager, samplers, BASE)), plain)


def test_two_units_act_together_and_a_plus_adapter_reads_hidden_states(ipa_manager, samplers):
    one = pixels(run(ipa_manager, samplers, replace(BASE, control_units=(UNIT,))))
    plus_unit = replace(UNIT, model="ip-adapter-plus_tiny", module="ip-adapter-auto",
                        image=reference_picture().rotate(90))
    plus = pixels(run(ipa_manager, samplers, replace(BASE, control_units=(plus_unit,))))
    both = run(ipa_manager, samplers, replace(BASE, control_units=(UNIT, plus_unit)))
    assert np.abs(pixels(both) - one).mean() > 0.5 and np.abs(pixels(both) - plus).mean() > 0.5
    assert 'ControlNet 1: "Module: ip-adapter-auto, Model: ip-adapter-plus_tiny' in both.infotexts[0]


def test_an_ip_adapter_also_steers_img2img(ipa_manager, samplers):
    img2img = replace(BASE, mode="img2img", init_images=(Image.new("RGB", (32, 32), (40, 90, 200)),),
                      denoising_strength=0.7)
    plain = pixels(run(ipa_manager, samplers, img2img))
    steered = run(ipa_manager, samplers, replace(img2img, control_units=(UNIT,)))
    assert np.abs(pixels(steered) - plain).mean() > 0.5


def test_refusals_say_what_to_do(ipa_manager, samplers, ipa_models_dir, cpu_fp32, tmp_path):
    from modules.service.outputs import OutputStore
    from modules.service.runner import Processor

    processor = Processor(models=ipa_manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"))

    def refused(unit: ControlUnit, pattern: str) -> None:
        with pytest.raises(RequestError, match=pattern):
            processor.check(replace(BASE, control_units=(unit,)))

    refused(replace(UNIT, module="ip-adapter_face_id_plus"), "needs insightface face embeddings")
    refused(replace(UNIT, module="ip-adapter_clip_x"), "Unknown IP-Adapter preprocessor 'ip-adapter_clip_x'")
    refused(replace(UNIT, model="nope"), r"IP-Adapter model 'nope' not found.*Available: .*ip-adapter_tiny")
    refused(replace(UNIT, control_mode=2), "control mode ControlNet is more important is for ControlNets")
    processor.check(replace(BASE, control_units=(UNIT,)))  # the same unit, fine, passes
    from modules.core.regions import Region

    with pytest.raises(RequestError, match="cannot be combined with regional prompting yet"):
        processor.check(replace(BASE, control_units=(UNIT,), regions=(Region("a cat", box=(0, 0, 0.5, 1)),)))
    empty = tmp_path / "no-encoders"
    empty.mkdir()
    bare = make_manager(ipa_models_dir, cpu_fp32, tmp_path / "c2.json", clip_vision=empty)
    with pytest.raises(IPAdapterError, match=r"ip-adapter_tiny needs a CLIP vision encoder whose image embeddings "
                                             r"are 24 wide, which is missing \(.*no-encoders holds nothing\)"):
        bare.usable_ip_adapter("ip-adapter_tiny", "ip-adapter-auto", bare.resolve("tiny-a"))


def test_another_family_and_flux_checkpoints_are_refused():
    info = ipadapters.IPAdapterInfo("ip-adapter_sd15", Path("x.safetensors"), "sd1", "base", ipadapters.EMBEDS, 1024)
    with pytest.raises(IPAdapterError, match="ip-adapter_sd15 is for SD 1.x models, but the checkpoint xl is SDXL"):
        ipadapters.check_family(info, "sdxl", "xl")
    with pytest.raises(IPAdapterError, match="do not work with Flux-class checkpoints yet"):
        ipadapters.check_family(info, "flux-dev", "flux1-dev")
    ipadapters.check_family(info, "sd1", "v1-5")  # the right family passes


def test_an_ip_adapter_kept_in_the_controlnet_folder_is_found_as_one(ipa_models_dir, tmp_path):
    copy = tmp_path / "ControlNet"
    shutil.copytree(ipa_models_dir / "ControlNet", copy)
    found = ipadapters.scan(None, copy)
    assert [i.name for i in found] == ["ip-adapter-plus_tiny"] and found[0].error is None


class XLWithAdapter:
    """The in-memory tiny SDXL, with one IP-Adapter made for its UNet and a tiny encoder (no files)."""

    def __init__(self, models, tmp_path: Path) -> None:
        from modules.engine import image_embeddings
        from tests.fixtures.ip_adapter import ip_adapter_state_dict, save_clip_vision

        self.models = models
        unet = models.loaded.pipe.unet
        weights = ipadapters.split(ip_adapter_state_dict(unet, 24, seed=6))
        folder = save_clip_vision(tmp_path / "enc", hidden=32, projection=24, seed=7)
        encoder = image_embeddings.load(image_embeddings.describe(folder), unet.dtype, unet.device)
        shapes = {f"{group}.{key}": list(v.shape) for group, values in weights.items() for key, v in values.items()}
        family, kind, reads, width, error = ipadapters.describe_shapes(shapes)
        info = ipadapters.IPAdapterInfo("ip-adapter_tiny_xl", tmp_path / "x.safetensors", family, kind, reads, width)
        self.adapter = ipadapters.LoadedIPAdapter(info, weights, encoder, "enc")

    def __getattr__(self, name):
        return getattr(self.models, name)

    def ip_adapter(self, name, module, checkpoint):
        return self.adapter


def test_an_sdxl_checkpoint_takes_an_ip_adapter_next_to_its_added_conditions(sdxl_models, samplers, tmp_path):
    models = XLWithAdapter(sdxl_models, tmp_path)
    request = replace(BASE, width=16, height=16, control_units=(replace(UNIT, model="ip-adapter_tiny_xl"),))
    plain = pixels(generate(validate(replace(request, control_units=()), samplers=samplers), models, samplers))
    steered = generate(validate(request, samplers=samplers), models, samplers)
    assert np.abs(pixels(steered) - plain).mean() > 0.5
    assert "Model: ip-adapter_tiny_xl" in steered.infotexts[0]
    after = generate(validate(replace(request, control_units=()), samplers=samplers), models, samplers)
    assert np.array_equal(pixels(after), plain)


def test_with_the_hires_fix_the_adapter_acts_in_the_pass_its_option_names(ipa_manager, samplers):
    hires = replace(BASE, enable_hr=True, hr_scale=2, hr_upscaler="Latent", denoising_strength=0.5)
    both = run(ipa_manager, samplers, replace(hires, control_units=(UNIT,)))
    low = run(ipa_manager, samplers, replace(hires, control_units=(replace(UNIT, hr_option="Low res only"),)))
    assert both.images[0].size == (64, 64) and "Hr Option: Both" in both.infotexts[0]
    assert "Hr Option: Low res only" in low.infotexts[0]
    assert not np.array_equal(pixels(both), pixels(low))  # the second pass saw the reference in one of them
