"""Chroma from single files on tiny random components: a Chroma transformer file (Flux-like blocks plus its
distilled guidance layer) is told from Flux by its weights, converted as diffusers' own converter does at Chroma's
width, and with a T5 file and the VAE draws the picture of its diffusers folder through our generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.core.requests import GenerationRequest
from modules.engine.devices import DeviceConfig
from modules.engine.generation import generate
from modules.engine.models import chroma_single, flux_single, module_files, transformer_files
from modules.engine.models.manager import ModelManager
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.original_layout_chroma import chroma_to_original, export_chroma_files
from tests.fixtures.tiny_flow_families import save_tiny_chroma


@pytest.fixture(scope="module")
def chroma_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("chroma-files") / "models"
    folder = save_tiny_chroma(root / "Stable-diffusion" / "tiny-chroma", seed=2)
    files = export_chroma_files(folder, root.parent / "export", "tiny-chroma-file")
    for sub, part in (("Stable-diffusion", "transformer"), ("text_encoder", "t5"), ("VAE", "vae")):
        (root / sub).mkdir(exist_ok=True)
        (root / sub / files[part].name).symlink_to(files[part])
    return root, folder, files


def test_our_mapping_at_chromas_width_is_diffusers_own(tmp_path):
    """At 3072 wide (every Chroma release) diffusers' converter runs; other widths take ours, which must map every
    tensor (and every row of the fused ones) to the same place. Rows are tagged by tensor and index; one column
    each keeps it small."""
    from accelerate import init_empty_weights
    from diffusers import ChromaTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_chroma_transformer_checkpoint_to_diffusers

    with init_empty_weights(include_buffers=True):
        model = ChromaTransformer2DModel(num_layers=1, num_single_layers=1, approximator_layers=2)
    tagged = {k: (torch.arange(v.shape[0], dtype=torch.float64) + n * 1e6).reshape(-1, *([1] if v.dim() > 1 else []))
              for n, (k, v) in enumerate(model.state_dict().items())}
    original = chroma_to_original(tagged, model.config)
    theirs = convert_chroma_transformer_checkpoint_to_diffusers(dict(original))
    ours = chroma_single.convert_any_width(dict(original), model.config)
    assert ours.keys() == theirs.keys() == tagged.keys()
    assert all(torch.equal(ours[k], theirs[k]) and torch.equal(ours[k], tagged[k]) for k in tagged)


def test_a_chroma_file_is_told_from_flux_and_listed_with_its_parts(chroma_models, tmp_path):
    root, _, files = chroma_models
    assert flux_single.is_flux_file(files["transformer"])  # Flux's blocks: the old reader took it for Flux
    assert transformer_files.family_of(files["transformer"]) == "chroma"
    facts = chroma_single.describe(files["transformer"])
    assert facts.label == "Chroma transformer (float32, 1+1 blocks)"
    available = module_files.scan([root / "text_encoder", root / "VAE"])
    with pytest.raises(flux_single.FluxPartsError, match=r"needs the Flux VAE \(ae.safetensors\) in models/VAE"):
        chroma_single.choose_parts(facts, [], [m for m in available if m.role != "vae"], files["transformer"].name)
    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE",
                           cache_file=tmp_path / "cache.json",
                           device=DeviceConfig(torch.device("cpu"), torch.float32, "tests"),
                           text_encoder_dirs=(root / "text_encoder",))
    manager.refresh()
    info = manager.resolve(files["transformer"].name)
    assert info.usable and info.family == "chroma" and info.family_label == facts.label


def test_the_chroma_file_draws_the_folders_picture_through_our_generation(chroma_models, tmp_path):
    root, _, files = chroma_models
    manager = ModelManager(checkpoints_dir=root / "Stable-diffusion", vae_dir=root / "VAE",
                           cache_file=tmp_path / "cache.json",
                           device=DeviceConfig(torch.device("cpu"), torch.float32, "tests"),
                           text_encoder_dirs=(root / "text_encoder",))
    manager.refresh()
    samplers = SamplerRegistry.default()

    def picture(checkpoint: str) -> np.ndarray:
        request = GenerationRequest(prompt="a red circle", negative_prompt="blurry", checkpoint=checkpoint,
                                    sampler="Euler", steps=3, cfg_scale=2.0, width=32, height=32, seed=5)
        return np.asarray(generate(request, manager, samplers).images[0]).astype(int)

    folder, from_file = picture("tiny-chroma"), picture(files["transformer"].name)
    assert folder.std() > 5
    assert np.array_equal(folder, from_file)
    with manager.use(files["transformer"].name) as loaded:
        assert type(loaded.pipe).__name__ == "ChromaPipeline"
        assert {m.name for m in loaded.info.parts} == {files["t5"].name, files["vae"].name}
