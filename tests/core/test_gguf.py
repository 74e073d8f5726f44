"""GGUF-quantised Flux transformer files (Q8_0 and Q4_K, city96's layout): listed with what they are, loaded with
their weights kept quantised, drawn with the text encoders and VAE of a matching Flux diffusers folder, and close
to the picture of the same transformer unquantised."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.engine.generation import generate
from modules.engine.models import gguf_files
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux
from tests.fixtures.tiny_gguf import tiny_flux_transformer, write_flux_gguf


@pytest.fixture(scope="module")
def gguf_models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gguf-models")
    checkpoints = root / "Stable-diffusion"
    save_tiny_flux(checkpoints / "tiny-flux-schnell", seed=1)
    model = tiny_flux_transformer(seed=3)
    write_flux_gguf(model, checkpoints / "tiny-q8.gguf", "Q8_0")
    write_flux_gguf(model, checkpoints / "tiny-q4k.gguf", "Q4_K")
    write_flux_gguf(tiny_flux_transformer(seed=4, guidance=True), checkpoints / "dev-q8.gguf", "Q8_0")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def manager(gguf_models_dir, cpu_fp32, tmp_path):
    return tiny_manager(gguf_models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(checkpoint: str, seed: int = 7) -> GenerationRequest:
    return GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=seed)


def _unquantised(companion: Path, request: GenerationRequest) -> np.ndarray:
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(str(companion), transformer=tiny_flux_transformer(seed=3), dtype=torch.float32,
                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt=request.prompt, height=32, width=32, num_inference_steps=3,
                 generator=torch.Generator().manual_seed(request.seed)).images[0]
    return np.asarray(image).astype(np.float32)


def test_gguf_files_are_listed_as_flux_with_their_quantisation_and_a_matching_diffusers_folder(manager,
                                                                                              gguf_models_dir):
    found = {info.name: info for info in manager.checkpoints.all()}
    q8, q4 = found["tiny-q8.gguf"], found["tiny-q4k.gguf"]
    assert q8.usable and q8.kind == "gguf" and q8.family == "flux" and q8.quant == "Q8_0"
    assert "GGUF Q8_0" in q8.family_label and "schnell" in q8.family_label
    assert q4.usable and q4.quant == "Q4_K"
    assert q8.companion == gguf_models_dir / "Stable-diffusion" / "tiny-flux-schnell"


def test_a_gguf_without_module_files_or_a_fitting_folder_names_the_files_to_add(manager):
    from modules.engine.models.single_file import CheckpointError

    dev = {info.name: info for info in manager.checkpoints.all()}["dev-q8.gguf"]
    assert dev.usable and dev.companion is None  # listed, as a Flux transformer file is: what it needs is said on use
    with pytest.raises(CheckpointError, match=r"needs a CLIP-L text encoder \(clip_l.safetensors\) in "
                                              r"models/text_encoder.*or put a Flux.1 dev diffusers folder"):
        manager.with_parts(dev)


@pytest.fixture(scope="module")
def module_files_dir(gguf_models_dir, tmp_path_factory) -> Path:
    """models/ with the GGUF files, their companion folder, and text-encoder and VAE files exported from another
    tiny Flux (other weights, the same shapes: its configs and tokenizers are the companion's)."""
    from training.export_flux import export_single_files

    root = tmp_path_factory.mktemp("gguf-modules") / "models"
    other = save_tiny_flux(root.parent / "other" / "tiny-flux-other", seed=5)
    _, clip, t5, vae = export_single_files(other, root.parent / "export", "other")
    for sub, file in (("text_encoder", clip), ("text_encoder", t5), ("VAE", vae)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / file.name).symlink_to(file)
    (root / "Stable-diffusion").mkdir()
    for name in ("tiny-flux-schnell", "tiny-q8.gguf", "dev-q8.gguf"):
        (root / "Stable-diffusion" / name).symlink_to(gguf_models_dir / "Stable-diffusion" / name)
    return root


def test_a_gguf_takes_module_files_before_its_companion_folder(module_files_dir, cpu_fp32, tmp_path):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=module_files_dir / "Stable-diffusion", vae_dir=module_files_dir / "VAE",
                           cache_file=tmp_path / "cache.json", device=cpu_fp32,
                           text_encoder_dirs=(module_files_dir / "text_encoder",))
    manager.refresh()
    q8 = manager.resolve("tiny-q8.gguf")
    assert q8.companion is not None  # a folder could lend its parts, but the files come first
    assert {m.name for m in manager.with_parts(q8).parts} == {"other-clip.safetensors", "other-t5.safetensors",
                                                              "other-ae.safetensors"}
    assert manager.with_parts(manager.resolve("dev-q8.gguf")).parts  # no dev folder: the files alone suffice
    request = _request("tiny-q8.gguf")
    result = generate(request, manager, SamplerRegistry.default())
    assert "other-t5.safetensors" in result.infotexts[0]
    ours = np.asarray(result.images[0]).astype(np.float32)
    with_files = _unquantised(module_files_dir.parent / "other" / "tiny-flux-other", request)
    with_companion = _unquantised(module_files_dir / "Stable-diffusion" / "tiny-flux-schnell", request)
    assert np.abs(ours - with_files).mean() < 2.0  # out of 255: the files' encoders and VAE drew it
    assert np.abs(ours - with_companion).mean() > 5 * np.abs(ours - with_files).mean()


def test_gguf_files_of_other_models_or_damaged_ones_say_what_they_are(tmp_path):
    import gguf

    writer = gguf.GGUFWriter(str(tmp_path / "qwen.gguf"), arch="qwen_image")
    writer.add_tensor("img_in.weight", np.zeros((4, 32), np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file(), writer.close()
    with pytest.raises(gguf_files.GgufError, match="Qwen-Image"):
        gguf_files.describe(tmp_path / "qwen.gguf")
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(gguf_files.GgufError, match="not a readable GGUF file"):
        gguf_files.describe(tmp_path / "broken.gguf")


def test_a_q8_gguf_keeps_its_weights_quantised_and_draws_close_to_the_unquantised_transformer(manager,
                                                                                              gguf_models_dir):
    request = _request("tiny-q8.gguf")
    result = generate(request, manager, SamplerRegistry.default())
    loaded = manager.load(manager.resolve("tiny-q8.gguf"))
    linear = loaded.pipe.transformer.transformer_blocks[0].attn.to_q
    assert type(linear).__name__ == "GGUFLinear" and linear.weight.dtype == torch.uint8
    assert result.memory["quantized_weights"] == "gguf"
    ours = np.asarray(result.images[0]).astype(np.float32)
    reference = _unquantised(gguf_models_dir / "Stable-diffusion" / "tiny-flux-schnell", request)
    other_seed = _unquantised(gguf_models_dir / "Stable-diffusion" / "tiny-flux-schnell", replace(request, seed=8))
    assert ours.std() > 5  # a picture, not a flat field
    assert np.abs(ours - reference).mean() < 2.0  # out of 255
    assert np.abs(other_seed - reference).mean() > 10 * max(np.abs(ours - reference).mean(), 0.1)


def test_a_q4_k_gguf_draws_close_to_the_unquantised_transformer_and_further_than_q8(manager, gguf_models_dir):
    request = _request("tiny-q4k.gguf")
    q4 = np.asarray(generate(request, manager, SamplerRegistry.default()).images[0]).astype(np.float32)
    q8 = np.asarray(generate(replace(request, checkpoint="tiny-q8.gguf"), manager,
                             SamplerRegistry.default()).images[0]).astype(np.float32)
    reference = _unquantised(gguf_models_dir / "Stable-diffusion" / "tiny-flux-schnell", request)
    assert np.abs(q4 - reference).mean() < 8.0
    assert np.abs(q4 - reference).mean() > np.abs(q8 - reference).mean()


def test_fp8_storage_asked_for_a_gguf_checkpoint_is_refused_with_a_note(manager):
    manager.set_fp8("tiny-q8.gguf", True)
    loaded = manager.load(manager.resolve("tiny-q8.gguf"))
    assert not loaded.placement.fp8
    assert any("already quantised" in note for note in loaded.placement.notes)
