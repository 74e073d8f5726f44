"""LoRAs on tiny random models, in kohya/A1111 and diffusers/PEFT formats: applied for one job only, the
base returns bit-exactly, adapters stay loaded, hashes in the infotext, clear refusals."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine.generation import generate
from modules.engine.models.loras import LoraError, lora_hash
from modules.service.runner import Processor
from training.members import peft_to_kohya

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def _random_adapter_state(module, targets, rank: int, seed: int) -> dict[str, torch.Tensor]:
    """PEFT LoRA weights for `module` with both matrices random (a fresh adapter has B = 0 and does nothing)."""
    from peft import LoraConfig, get_peft_model_state_dict

    module.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights="gaussian"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return {k: v.clone() for k, v in get_peft_model_state_dict(module).items()}


def _te_to_kohya(state: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        module, _, rest = key.partition(".lora_")
        name = "lora_te_" + module.replace(".", "_")
        out[f"{name}.{'lora_down' if rest.startswith('A') else 'lora_up'}.weight"] = tensor
        out[f"{name}.alpha"] = torch.tensor(float(rank))
    return out


@pytest.fixture(scope="session")
def lora_models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    root = tmp_path_factory.mktemp("lora-models")
    (root / "Stable-diffusion").mkdir()
    (root / "Stable-diffusion" / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a",
                                                      target_is_directory=True)
    (root / "VAE").mkdir()
    lora_dir = root / "Lora"
    (lora_dir / "styles").mkdir(parents=True)
    ckpt = tiny_models_dir / "Stable-diffusion" / "tiny-a"
    unet_state = _random_adapter_state(UNet2DConditionModel.from_pretrained(ckpt / "unet"), UNET_TARGETS, 4, 1)
    te_state = _random_adapter_state(CLIPTextModel.from_pretrained(ckpt / "text_encoder"), TE_TARGETS, 4, 2)
    kohya = {**peft_to_kohya(unet_state, 4, 4), **_te_to_kohya(te_state, 4)}
    save_file(kohya, str(lora_dir / "styles" / "ink.safetensors"),
              metadata={"ss_output_name": "ink-style", "modelspec.trigger_phrase": "inky"})
    # The same weights in the diffusers/PEFT layout.
    peft = {f"unet.{k}": v for k, v in unet_state.items()} | {f"text_encoder.{k}": v for k, v in te_state.items()}
    save_file(peft, str(lora_dir / "ink-peft.safetensors"))
    other_unet = _random_adapter_state(UNet2DConditionModel.from_pretrained(ckpt / "unet"), UNET_TARGETS, 4, 3)
    save_file(peft_to_kohya(other_unet, 4, 4), str(lora_dir / "glow.safetensors"))
    save_file(peft_to_kohya(other_unet, 4, 4), str(lora_dir / "for-demo.safetensors"),
              metadata={"ss_base_model_version": "demo"})
    (lora_dir / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    return root


@pytest.fixture
def lora_manager(lora_models_dir, cpu_fp32, tmp_path):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=lora_models_dir / "Stable-diffusion", vae_dir=lora_models_dir / "VAE",
                           cache_file=tmp_path / "c.json", device=cpu_fp32, lora_dir=lora_models_dir / "Lora")
    manager.refresh()
    return manager


BASE = GenerationRequest(prompt="a red circle", width=32, height=32, steps=3, seed=11, sampler="Euler")


def run(manager, samplers, prompt: str):
    return generate(validate(replace(BASE, prompt=prompt), samplers=samplers), manager, samplers)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def test_scan_reads_names_families_metadata_and_errors(lora_manager):
    found = {i.name: i for i in lora_manager.loras}
    assert set(found) == {"ink", "ink-peft", "glow", "for-demo", "broken"}
    assert found["ink"].family == "custom-32" and found["ink-peft"].family == "custom-32"
    assert found["for-demo"].family == "demo"
    assert found["ink"].trigger_words == ["inky"] and found["ink"].alias == "ink-style"
    assert "not a readable safetensors" in found["broken"].error
    assert lora_manager.find_lora("ink-style").name == "ink"  # by its metadata alias too


def test_lora_applies_for_one_job_and_the_base_returns_bit_exactly(lora_manager, samplers):
    base = run(lora_manager, samplers, "a red circle")
    with_lora = run(lora_manager, samplers, "a red circle <lora:ink:1>")
    assert np.abs(pixels(with_lora) - pixels(base)).mean() > 1.0
    after = run(lora_manager, samplers, "a red circle")
    assert np.array_equal(pixels(after), pixels(base))
    loaded = lora_manager.load(lora_manager.resolve(None))
    state = loaded.pipe.unet.state_dict()
    fresh = type(loaded.pipe.unet).from_pretrained(loaded.info.path / "unet").state_dict()
    for key, value in fresh.items():  # the base weights themselves are untouched
        module, _, leaf = key.rpartition(".")
        assert torch.equal(state.get(key, state.get(f"{module}.base_layer.{leaf}")), value), key


def test_kohya_and_peft_formats_of_the_same_weights_draw_the_same(lora_manager, samplers):
    kohya = pixels(run(lora_manager, samplers, "a red circle <lora:ink:1>"))
    peft = pixels(run(lora_manager, samplers, "a red circle <lora:ink-peft:1>"))
    assert np.abs(kohya - peft).max() <= 2


def test_weights_and_separate_text_encoder_weight(lora_manager, samplers):
    full = pixels(run(lora_manager, samplers, "a red circle <lora:ink:1>"))
    half = pixels(run(lora_manager, samplers, "a red circle <lora:ink:0.5>"))
    unet_only = pixels(run(lora_manager, samplers, "a red circle <lora:ink:0:1>"))
    zero = pixels(run(lora_manager, samplers, "a red circle <lora:ink:0>"))
    base = pixels(run(lora_manager, samplers, "a red circle"))
    assert not np.array_equal(full, half) and not np.array_equal(full, unet_only)
    assert np.abs(zero - base).max() <= 1


def test_two_loras_in_one_prompt(lora_manager, samplers):
    one = pixels(run(lora_manager, samplers, "a red circle <lora:ink:1>"))
    both = run(lora_manager, samplers, "a red circle <lora:ink:1> <lora:glow:0.8>")
    assert np.abs(pixels(both) - one).mean() > 0.5
    assert "Lora hashes: \"ink: " in both.info and ", glow: " in both.info


def test_adapters_stay_loaded_between_jobs(lora_manager, samplers, monkeypatch):
    run(lora_manager, samplers, "a red circle <lora:ink:1>")
    pipe = lora_manager.load(lora_manager.resolve(None)).pipe
    calls = []
    original = pipe.load_lora_weights
    monkeypatch.setattr(pipe, "load_lora_weights", lambda *a, **k: (calls.append(a), original(*a, **k))[1])
    run(lora_manager, samplers, "a red circle <lora:ink:0.7>")
    assert calls == []
    run(lora_manager, samplers, "a red circle <lora:glow:1>")
    assert len(calls) == 1


def test_infotext_hash_is_a1111s_and_the_prompt_keeps_its_tags(lora_manager, samplers, lora_models_dir):
    path = lora_models_dir / "Lora" / "styles" / "ink.safetensors"
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    expected = hashlib.sha256(raw[8 + header_len:]).hexdigest()
    assert lora_hash(path) == expected
    result = run(lora_manager, samplers, "a red circle <lora:ink:0.6>")
    assert result.info.startswith("a red circle <lora:ink:0.6>\n")
    assert f'Lora hashes: "ink: {expected[:12]}"' in result.info


def test_unknown_lora_warns_and_the_job_goes_on(lora_manager, samplers):
    base = pixels(run(lora_manager, samplers, "a red circle"))
    result = run(lora_manager, samplers, "a red circle <lora:nope:1>")
    assert any("'nope' not found" in w for w in result.warnings)
    assert np.array_equal(pixels(result), base)


def test_other_family_and_corrupt_files_are_refused_clearly(lora_manager, samplers, tmp_path):
    from modules.service.outputs import OutputStore

    processor = Processor(models=lora_manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"))
    with pytest.raises(RequestError, match=r"LoRA for-demo is for Demo .* but the checkpoint tiny-a is"):
        processor.check(replace(BASE, prompt="x <lora:for-demo:1>"))
    with pytest.raises(RequestError, match="broken cannot be used: it is not a readable safetensors"):
        processor.check(replace(BASE, prompt="x <lora:broken:1>"))
    with pytest.raises(LoraError):
        run(lora_manager, samplers, "x <lora:broken:1>")
    assert run(lora_manager, samplers, "a red circle <lora:ink:1>").images  # the model is still usable


def test_a_job_failing_mid_way_leaves_the_base_weights_exact(lora_manager, samplers, monkeypatch):
    import modules.engine.generation as generation

    base = pixels(run(lora_manager, samplers, "a red circle"))

    def broken(*args, **kwargs):
        raise RuntimeError("the sampler fell over")

    monkeypatch.setattr(generation, "_txt2img", broken)  # fails while the LoRA is fused in
    with pytest.raises(RuntimeError, match="fell over"):
        run(lora_manager, samplers, "a red circle <lora:ink:1>")
    monkeypatch.undo()
    loaded = lora_manager.load(lora_manager.resolve(None))
    assert loaded.adapters.originals == []
    assert np.array_equal(pixels(run(lora_manager, samplers, "a red circle")), base)


def test_the_same_lora_twice_adds_its_weights(lora_manager, samplers):
    twice = pixels(run(lora_manager, samplers, "a red circle <lora:ink:0.5> <lora:ink:0.5>"))
    once = pixels(run(lora_manager, samplers, "a red circle <lora:ink:1>"))
    assert np.abs(twice - once).max() <= 1
