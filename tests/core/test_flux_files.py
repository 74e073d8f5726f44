"""Flux transformer files in Black Forest Labs' release layout: converted both ways without loss, their config read
from the weights, and listed with what they are."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from modules.engine.models import flux_files
from modules.engine.models.single_file import UnsupportedModel, detect_family


def _tiny_transformer(guidance: bool, head_dim: int = 8, axes: tuple[int, int, int] = (2, 2, 4)):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=2, num_single_layers=2,
                                  attention_head_dim=head_dim, num_attention_heads=2, joint_attention_dim=24,
                                  pooled_projection_dim=20, guidance_embeds=guidance, axes_dims_rope=axes)


def _forward(model, guidance: bool) -> torch.Tensor:
    from diffusers import FluxPipeline

    g = torch.Generator().manual_seed(1)
    ids = FluxPipeline._prepare_latent_image_ids(1, 2, 2, "cpu", torch.float32)
    with torch.no_grad():
        return model(hidden_states=torch.randn(1, 4, 16, generator=g), timestep=torch.tensor([0.5]),
                     pooled_projections=torch.randn(1, 20, generator=g),
                     encoder_hidden_states=torch.randn(1, 5, 24, generator=g), txt_ids=torch.zeros(5, 3),
                     img_ids=ids, guidance=torch.tensor([3.5]) if guidance else None, return_dict=False)[0]


@pytest.mark.parametrize("guidance", [True, False])
def test_a_transformer_written_in_bfl_layout_reads_back_to_the_same_model(guidance):
    from diffusers import FluxTransformer2DModel

    model = _tiny_transformer(guidance)
    bfl = flux_files.diffusers_to_bfl(model.state_dict(), model.config)
    assert any(k.startswith("double_blocks.0.img_attn.qkv") for k in bfl)
    config = flux_files.config_from_bfl(bfl, {flux_files.AXES_METADATA: json.dumps([2, 2, 4])})
    assert config["num_layers"] == 2 and config["num_single_layers"] == 2 and config["guidance_embeds"] is guidance
    rebuilt = FluxTransformer2DModel(**config)
    rebuilt.load_state_dict(flux_files.bfl_to_diffusers(bfl, config), strict=True)
    assert torch.equal(_forward(rebuilt, guidance), _forward(model, guidance))


def test_comfyui_prefixed_keys_are_read_as_the_bare_layout():
    model = _tiny_transformer(False)
    bfl = flux_files.diffusers_to_bfl(model.state_dict(), model.config)
    prefixed = {flux_files.BFL_PREFIX + k: v for k, v in bfl.items()}
    assert flux_files.strip_prefix(prefixed).keys() == bfl.keys()


def test_a_file_whose_heads_are_not_flux_wide_and_that_names_no_axes_is_refused_with_the_reason():
    model = _tiny_transformer(False)
    bfl = flux_files.diffusers_to_bfl(model.state_dict(), model.config)
    with pytest.raises(flux_files.FluxFileError, match="rotary axes"):
        flux_files.config_from_bfl(bfl)


def test_a_flux_dev_transformer_file_is_listed_as_a_usable_flux_model_with_its_dtype(tmp_path):
    model = _tiny_transformer(True, head_dim=128, axes=(16, 56, 56))
    bfl = {k: v.to(torch.bfloat16) for k, v in flux_files.diffusers_to_bfl(model.state_dict(), model.config).items()}
    with pytest.raises(UnsupportedModel, match=r"Flux.1 dev transformer \(bfloat16, 2\+2 blocks\).*Flux file"):
        detect_family({flux_files.BFL_PREFIX + k: v for k, v in bfl.items()})
    path = tmp_path / "flux1-dev.safetensors"
    save_file(bfl, str(path))
    from modules.engine.models.registry import _describe_file

    facts = _describe_file(path)
    assert "error" not in facts
    assert (facts["family"], facts["prediction"]) == ("flux", "flow")
    assert facts["family_label"] == "Flux.1 dev transformer (bfloat16, 2+2 blocks)"


def test_the_demo_export_writes_single_files_that_read_back_to_the_same_transformer_vae_and_encoders(tmp_path):
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import CLIPTextModel, T5EncoderModel

    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    folder = save_tiny_flux(tmp_path / "src" / "tiny-flux", guidance=True)
    paths = export_single_files(folder, tmp_path / "models", "tiny-flux")
    transformer_file, clip_file, t5_file, vae_file = paths
    with safe_open(str(transformer_file), framework="pt") as f:
        metadata = f.metadata()
    bfl = load_file(str(transformer_file))
    assert detect_family_message(bfl).startswith("this is a Flux.1 dev transformer")
    config = flux_files.config_from_bfl(bfl, metadata)
    original = FluxTransformer2DModel.from_pretrained(folder, subfolder="transformer").to(torch.bfloat16)
    rebuilt = FluxTransformer2DModel(**config).to(torch.bfloat16)
    rebuilt.load_state_dict(flux_files.bfl_to_diffusers(bfl, config), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), rebuilt.state_dict().values()))

    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    read = AutoencoderKL.from_single_file(load_file(str(vae_file)), config=str(folder), subfolder="vae",
                                          local_files_only=True)
    latents = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(vae.decode(latents).sample, read.decode(latents).sample, atol=1e-6)

    for file, cls, sub in ((clip_file, CLIPTextModel, "text_encoder"), (t5_file, T5EncoderModel, "text_encoder_2")):
        model = cls.from_pretrained(folder, subfolder=sub)
        expected = model.state_dict()
        weights = {k.removeprefix("text_model.") if k.removeprefix("text_model.") in expected else k: v
                   for k, v in load_file(str(file)).items()}
        missing = set(expected) - set(weights)
        assert missing <= {"encoder.embed_tokens.weight"}  # T5's copy of shared.weight
        assert all(torch.equal(weights[k], expected[k]) for k in weights)


def test_the_demo_export_never_overwrites_a_file(tmp_path):
    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    folder = save_tiny_flux(tmp_path / "src" / "tiny-flux")
    existing = tmp_path / "models" / "VAE" / "tiny-flux-ae.safetensors"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="never overwrites"):
        export_single_files(folder, tmp_path / "models", "tiny-flux")
    assert existing.read_bytes() == b"mine"
    assert not (tmp_path / "models" / "Stable-diffusion" / "tiny-flux.safetensors").exists()


def detect_family_message(state_dict) -> str:
    return flux_files.file_message(state_dict)
