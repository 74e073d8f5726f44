"""Flux from single files on tiny random components: module files told apart by their weights, an fp8 transformer
file kept in fp8 (no fp32 detour), an all-in-one file with its own encoders and VAE drawing the folder's picture,
and the errors that name the missing file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.engine.models import flux_single, module_files
from modules.engine.models.flow_families import BFL_PREFIX


def _shapes(**groups) -> dict[str, tuple[int, ...]]:
    return {k: v for group in groups.values() for k, v in group.items()}


def _clip(width: int, prefix: str = "") -> dict[str, tuple[int, ...]]:
    return {f"{prefix}text_model.embeddings.token_embedding.weight": (49408, width),
            **{f"{prefix}text_model.encoder.layers.{i}.mlp.fc1.weight": (width * 4, width) for i in range(12)}}


def _t5(width: int) -> dict[str, tuple[int, ...]]:
    return {"shared.weight": (32128, width),
            **{f"encoder.block.{i}.layer.0.SelfAttention.q.weight": (width, width) for i in range(24)}}


@pytest.mark.parametrize("shapes, kind, label", [
    (_clip(768), "clip-l", "CLIP-L text encoder (float16)"),
    (_clip(1280, "transformer."), "clip-g", "CLIP-G text encoder (float16)"),
    (_t5(4096), "t5xxl", "T5-XXL text encoder (float16)"),
    ({"model.embed_tokens.weight": (151936, 2560), "model.layers.0.self_attn.q_proj.weight": (4096, 2560),
      "model.layers.0.self_attn.q_norm.weight": (128,)}, "qwen3", "Qwen3 text encoder (float16)"),
    ({"model.embed_tokens.weight": (152064, 3584), "model.layers.0.self_attn.q_proj.weight": (3584, 3584),
      "visual.blocks.0.attn.qkv.weight": (3, 3)}, "qwen2.5-vl", "Qwen2.5-VL text encoder (float16)"),
    ({"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_in.weight": (512, 16, 3, 3),
      "encoder.down.0.block.0.conv1.weight": (128, 128, 3, 3)}, "vae", "16-channel VAE (Flux / SD 3.x) (float16)"),
    ({"lora_unet_x.lora_down.weight": (4, 4)}, "unknown", "unknown (float16)"),
])
def test_a_module_file_is_told_apart_by_its_weights(shapes, kind, label):
    info = module_files.describe_shapes("f.safetensors", Path("f.safetensors"), shapes, "float16")
    assert (info.kind, info.label) == (kind, label)
    assert info.usable == (kind != "unknown")  # Qwen encoders load with their family's folder (companion_single)


def test_the_storage_dtype_of_an_fp8_file_is_read_from_its_header(tmp_path):
    weights = {f"encoder.block.{i}.layer.0.SelfAttention.q.weight": torch.zeros(8, 8, dtype=torch.float8_e4m3fn)
               for i in range(2)}
    weights["shared.weight"] = torch.zeros(16, 8, dtype=torch.float8_e4m3fn)
    weights["encoder.final_layer_norm.weight"] = torch.ones(8)  # fp8 files keep their norms wider
    save_file(weights, str(tmp_path / "t5xxl_fp8_e4m3fn.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"\x00\x01truncated")
    found = {m.name: m for m in module_files.scan([tmp_path])}
    assert found["t5xxl_fp8_e4m3fn.safetensors"].dtype == "float8_e4m3fn"
    assert found["t5xxl_fp8_e4m3fn.safetensors"].kind == "t5"
    assert "truncated" in found["broken.safetensors"].error


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    root = tmp_path_factory.mktemp("tiny-flux-files")
    folder = save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", guidance=True)
    transformer, clip, t5, vae = export_single_files(folder, root / "out", "tiny-flux")
    return folder, transformer, clip, t5, vae


def test_an_fp8_transformer_file_stays_fp8_and_holds_the_files_values(tiny_files, tmp_path):
    folder, transformer, *_ = tiny_files
    weights = load_file(str(transformer))
    fp8 = {k: (v.to(torch.float8_e4m3fn) if v.dim() == 2 else v) for k, v in weights.items()}
    path = tmp_path / "flux-fp8.safetensors"
    from safetensors import safe_open

    with safe_open(str(transformer), "pt") as f:
        save_file(fp8, str(path), metadata=f.metadata())
    facts = flux_single.describe(path)
    assert facts.dtype == "float8_e4m3fn" and facts.variant == "dev"
    model = flux_single.load_transformer(path, facts.config, torch.bfloat16)
    dtypes = {p.dtype for p in model.parameters()}
    assert dtypes == {torch.float8_e4m3fn, torch.bfloat16}  # never fp32: fp8 kept, the rest at the compute dtype
    assert torch.equal(model.x_embedder.weight, fp8["img_in.weight"])


def _all_in_one(tiny_files, path: Path) -> Path:
    """The file as ComfyUI saves a checkpoint: transformer, CLIP-L, T5 and VAE under their prefixes."""
    _, transformer, clip, t5, vae = tiny_files
    weights = {BFL_PREFIX + k: v for k, v in load_file(str(transformer)).items()}
    weights |= {"text_encoders.clip_l.transformer." + k: v for k, v in load_file(str(clip)).items()}
    weights |= {"text_encoders.t5xxl.transformer." + k: v for k, v in load_file(str(t5)).items()}
    weights |= {"first_stage_model." + k: v for k, v in load_file(str(vae)).items()}
    from safetensors import safe_open

    with safe_open(str(transformer), "pt") as f:
        save_file(weights, str(path), metadata=f.metadata())
    return path


def test_an_all_in_one_file_draws_the_same_picture_as_its_diffusers_folder(tiny_files, tmp_path):
    from diffusers import FluxPipeline

    folder = tiny_files[0]
    path = _all_in_one(tiny_files, tmp_path / "tiny-flux-aio.safetensors")
    facts = flux_single.describe(path)
    assert sorted(m.role for m in facts.embedded) == ["clip", "t5", "vae"]
    parts = flux_single.choose_parts(facts, [], [], path.name)  # nothing beside it: its own parts
    assert {m.path for m in parts.values()} == {path}
    ours = flux_single.load_pipeline(path, parts, [folder], torch.float32)
    bare = FluxPipeline.from_pretrained(str(folder), local_files_only=True)
    # The transformer file is bf16 (as released); the bare pipeline gets the same rounding for a like-for-like picture.
    bare.transformer.to(torch.bfloat16).to(torch.float32)
    kwargs = dict(prompt="a red circle", height=32, width=32, num_inference_steps=2, output_type="np")
    a = ours(generator=torch.Generator().manual_seed(3), **kwargs).images
    b = bare(generator=torch.Generator().manual_seed(3), **kwargs).images
    assert a.std() > 0.01
    assert np.array_equal(a, b)


def test_missing_or_ambiguous_parts_are_named_with_where_they_go(tiny_files, tmp_path):
    _, transformer, clip, t5, vae = tiny_files
    facts = flux_single.describe(transformer)
    mods = {m.role: m for m in module_files.scan([clip.parent, vae.parent])}
    with pytest.raises(flux_single.FluxPartsError, match=r"needs the Flux VAE \(ae.safetensors\) in models/VAE"):
        flux_single.choose_parts(facts, [], [mods["clip"], mods["t5"]], transformer.name)
    twin = tmp_path / "other-ae.safetensors"
    twin.write_bytes(vae.read_bytes())
    other = module_files.describe_file(twin, twin.name)
    with pytest.raises(flux_single.FluxPartsError, match="several files fit .* other-ae.safetensors.*choose one"):
        flux_single.choose_parts(facts, [], [*mods.values(), other], transformer.name)
    chosen = flux_single.choose_parts(facts, [other], [*mods.values(), other], transformer.name)
    assert chosen["vae"].name == "other-ae.safetensors"
    with pytest.raises(flux_single.FluxPartsError, match="does not fit"):
        flux_single.choose_parts(facts, [module_files.ModuleInfo("x.safetensors", twin, "clip-l", "CLIP-L",
                                                                 shape=(49408, 768, 12))], [], transformer.name)


def test_a_t5_of_unknown_shape_says_where_to_put_its_folder_and_t5_xxl_finds_the_shipped_tokenizer(tiny_files):
    _, _, _, t5, _ = tiny_files
    module = module_files.describe_file(t5, t5.name)
    with pytest.raises(flux_single.FluxPartsError, match="matches neither Flux.1's shipped configs"):
        flux_single.config_source("t5", module, [])
    real = module_files.ModuleInfo("t5xxl_fp16.safetensors", t5, "t5xxl", "T5-XXL", shape=(32128, 4096, 24))
    assert flux_single.config_source("t5", real, []) == (flux_single.SHIPPED, flux_single.SHIPPED)


def test_the_shipped_t5_tokenizer_is_t5s_and_pads_as_flux_asks():
    tokenizer = flux_single.load_tokenizer("t5", flux_single.SHIPPED)
    assert len(tokenizer) == 32100  # 32,000 pieces and the 100 <extra_id_N>
    # T5's own ids ("Hello" is 8774, "</s>" 1), not a vocabulary rebuilt in some other order
    assert tokenizer("Hello world").input_ids == [8774, 296, 1]
    ids = tokenizer("a red circle", padding="max_length", max_length=512, truncation=True).input_ids
    assert len(ids) == 512 and ids[:2] == [3, 9] and ids[4] == 1 and set(ids[5:]) == {0}  # "▁", "a", ..., </s>, pads


def test_a_comfyui_models_folder_is_read_where_comfyui_keeps_each_kind_of_file(tiny_files, tmp_path):
    from modules.core.settings import settings_from_args
    from modules.engine.devices import DeviceConfig
    from modules.engine.models.manager import ModelManager

    folder, transformer, clip, t5, vae = tiny_files
    models = tmp_path / "ComfyUI" / "models"
    for sub, file in (("diffusion_models", transformer), ("text_encoders", clip), ("clip", t5), ("vae", vae)):
        (models / sub).mkdir(parents=True)
        (models / sub / file.name).symlink_to(file)
    (models / "checkpoints").mkdir()
    (models / "checkpoints" / "tiny-flux").symlink_to(folder, target_is_directory=True)  # its configs and tokenizers
    paths = settings_from_args(["--models-dir", str(models)]).paths
    assert paths.checkpoints == (models / "checkpoints").resolve()  # ComfyUI's name, as no Stable-diffusion/ is there
    assert paths.vaes == (models / "vae").resolve()
    assert set(paths.text_encoders) >= {(models / "text_encoders").resolve(), (models / "clip").resolve()}
    manager = ModelManager(checkpoints_dir=paths.checkpoints, vae_dir=paths.vaes, cache_file=tmp_path / "m.json",
                           device=DeviceConfig(torch.device("cpu"), torch.float32, "tests"),
                           text_encoder_dirs=paths.text_encoders, unet_dirs=paths.unets)
    manager.refresh()
    info = manager.resolve(transformer.name)
    assert info.usable and info.flux_file and info.path.parent.name == "diffusion_models"
    assert {m.name for m in manager.modules} == {clip.name, t5.name, vae.name}
    with manager.use(transformer.name) as loaded:
        assert type(loaded.pipe).__name__ == "FluxPipeline"
        assert {m.name for m in loaded.info.parts} == {clip.name, t5.name, vae.name}


def test_a_flux_file_refused_by_an_older_scan_is_read_again_and_listed_usable(tiny_files, tmp_path):
    from modules.engine.models.registry import CheckpointRegistry, HashCache

    _, transformer, *_ = tiny_files
    root = tmp_path / "Stable-diffusion"
    root.mkdir()
    (root / transformer.name).symlink_to(transformer)
    cache = HashCache(tmp_path / "models.json")
    cache.put(root / transformer.name, {"error": "this is a Flux.1 dev transformer (bfloat16, 1+1 blocks): Flux from "
                                                 "a single transformer file ... cannot be loaded yet; use ..."})
    (info,) = CheckpointRegistry(root, cache).refresh()
    assert info.usable and info.flux_file and info.family_label.startswith("Flux.1 dev transformer")


def test_an_fp8_file_runs_through_the_manager_with_its_weights_stored_in_fp8(tiny_files, tmp_path):
    from safetensors import safe_open

    from modules.engine.devices import DeviceConfig
    from modules.engine.models.manager import ModelManager

    folder, transformer, clip, t5, vae = tiny_files
    for sub, file in (("text_encoder", clip), ("text_encoder", t5), ("VAE", vae)):
        (tmp_path / sub).mkdir(exist_ok=True)
        (tmp_path / sub / file.name).symlink_to(file)
    (tmp_path / "Stable-diffusion").mkdir()
    (tmp_path / "Stable-diffusion" / "tiny-flux").symlink_to(folder, target_is_directory=True)
    with safe_open(str(transformer), "pt") as f:
        weights = {k: (f.get_tensor(k).to(torch.float8_e4m3fn) if k.endswith("qkv.weight") else f.get_tensor(k))
                   for k in f.keys()}
        save_file(weights, str(tmp_path / "Stable-diffusion" / "tiny-fp8.safetensors"), metadata=f.metadata())
    manager = ModelManager(checkpoints_dir=tmp_path / "Stable-diffusion", vae_dir=tmp_path / "VAE",
                           cache_file=tmp_path / "m.json", device=DeviceConfig(torch.device("cpu"), torch.bfloat16,
                                                                               "tests"),
                           text_encoder_dirs=(tmp_path / "text_encoder",))
    manager.refresh()
    assert "float8_e4m3fn" not in manager.resolve("tiny-fp8.safetensors").family_label  # most weights are bf16
    with manager.use("tiny-fp8.safetensors") as loaded:
        assert loaded.placement.fp8 and "stored in fp8" in loaded.placement.fp8_reason
        assert loaded.pipe.transformer.transformer_blocks[0].attn.to_q.weight.dtype == torch.float8_e4m3fn
        image = loaded.pipe(prompt="a red circle", height=32, width=32, num_inference_steps=2, output_type="np",
                            generator=torch.Generator().manual_seed(1)).images
    assert np.isfinite(image).all() and image.std() > 0.01
