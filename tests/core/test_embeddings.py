"""Textual-inversion embeddings on a tiny model: A1111 .pt and safetensors layouts, multi-vector, used only
when named, TI hashes in the infotext, and clear refusals."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine.generation import generate


@pytest.fixture(scope="session")
def ti_models_dir(tiny_models_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ti-models")
    (root / "Stable-diffusion").mkdir()
    (root / "Stable-diffusion" / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a",
                                                      target_is_directory=True)
    (root / "VAE").mkdir()
    folder = root / "embeddings"
    (folder / "sub").mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    # A1111's .pt layout, two vectors, a mixed-case name with a dash.
    torch.save({"string_to_param": {"*": torch.randn(2, 32, generator=gen) * 3}, "name": "Inky-Style", "step": 100},
               folder / "sub" / "Inky-Style.pt")
    save_file({"emb_params": torch.randn(1, 32, generator=gen) * 3}, str(folder / "glowy.safetensors"))
    save_file({"emb_params": torch.randn(1, 768, generator=gen)}, str(folder / "sd15emb.safetensors"))
    (folder / "broken.pt").write_bytes(b"not a pickle at all")
    return root


@pytest.fixture
def ti_manager(ti_models_dir, cpu_fp32, tmp_path):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=ti_models_dir / "Stable-diffusion", vae_dir=ti_models_dir / "VAE",
                           cache_file=tmp_path / "c.json", device=cpu_fp32,
                           embeddings_dir=ti_models_dir / "embeddings")
    manager.refresh()
    return manager


BASE = GenerationRequest(prompt="a red circle", width=32, height=32, steps=3, seed=3, sampler="Euler")


def run(manager, samplers, prompt: str, negative: str = ""):
    request = validate(replace(BASE, prompt=prompt, negative_prompt=negative), samplers=samplers)
    return generate(request, manager, samplers)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def test_named_embedding_changes_the_picture_and_is_recorded(ti_manager, samplers, ti_models_dir):
    base = run(ti_manager, samplers, "a red circle")
    styled = run(ti_manager, samplers, "a red circle, inky-style")  # case does not matter, as in CLIP
    assert np.abs(pixels(styled) - pixels(base)).mean() > 0.5
    digest = hashlib.sha256((ti_models_dir / "embeddings" / "sub" / "Inky-Style.pt").read_bytes()).hexdigest()
    assert f'TI hashes: "Inky-Style: {digest[:12]}"' in styled.info
    pipe = ti_manager.load(ti_manager.resolve(None)).pipe
    from modules.engine.conditioning import _converter, prompt_chunks

    vocab = pipe.tokenizer.get_vocab()
    tokens = [t for chunk in prompt_chunks(pipe.tokenizer, "a red circle, Inky-Style", convert=_converter(pipe))
              for t in chunk.tokens]
    # Both vectors of the two-vector embedding reach the encoder, whatever the case it was written in.
    assert vocab["inky-style"] in tokens and vocab["inky-style_1"] in tokens
    again = run(ti_manager, samplers, "a red circle")
    assert np.array_equal(pixels(again), pixels(base)) and "TI hashes" not in again.info


def test_embedding_in_the_negative_prompt_and_safetensors_layout(ti_manager, samplers):
    base = run(ti_manager, samplers, "a red circle")
    negative = run(ti_manager, samplers, "a red circle", negative="glowy")
    assert np.abs(pixels(negative) - pixels(base)).mean() > 0.5 and "glowy: " in negative.info


def test_other_width_and_broken_files_warn_and_the_job_goes_on(ti_manager, samplers):
    result = run(ti_manager, samplers, "a red circle sd15emb broken")
    assert any("sd15emb was not used: its vectors are for SD 1.x" in w for w in result.warnings)
    assert any("broken was not used" in w for w in result.warnings)
    assert result.images[0].size == (32, 32) and "TI hashes" not in result.info
    assert {e.name for e in ti_manager.embeddings} == {"Inky-Style", "glowy", "sd15emb", "broken"}


def test_an_embedding_named_only_in_the_hires_prompt_is_loaded(ti_manager, samplers):
    request = validate(replace(BASE, prompt="a red circle", enable_hr=True, hr_scale=2.0, hr_upscaler="Latent",
                               hr_second_pass_steps=2, denoising_strength=0.5, hr_prompt="a red circle, glowy"),
                       samplers=samplers)
    result = generate(request, ti_manager, samplers)
    assert result.images[0].size == (64, 64) and "TI hashes: \"glowy: " in result.info
