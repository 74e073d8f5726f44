"""The Checkpoint Merger: A1111's formulas exactly, the demo models merged and drawing, never an overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.models import merge
from modules.service import merger
from modules.service.merger import MergeRequest

DEMO = Path(__file__).resolve().parents[2] / "models" / "Stable-diffusion"


@pytest.fixture
def models_dir(tmp_path, tiny_models_dir) -> Path:
    """A models/ folder of our own (the merge writes into it) with the demo models and a tiny one linked in."""
    root = tmp_path / "models"
    (root / "Stable-diffusion").mkdir(parents=True)
    (root / "VAE").mkdir()
    for name in ("demo-shapes", "demo-shapes-night", "demo-shapes-inpainting"):
        (root / "Stable-diffusion" / name).symlink_to(DEMO / name, target_is_directory=True)
    (root / "Stable-diffusion" / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a",
                                                      target_is_directory=True)
    return root


@pytest.fixture
def models(models_dir, cpu_fp32, tmp_path):
    from tests.fixtures.tiny import tiny_manager

    return tiny_manager(models_dir, cpu_fp32, tmp_path / "cache.json")


def _weights(folder: Path, component: str) -> dict[str, torch.Tensor]:
    return load_file(str(folder / component / merge.DIFFUSERS_WEIGHTS[component]))


def test_merging_the_demo_models_at_half_gives_their_exact_average_and_the_new_model_draws(models, samplers):
    from modules.service.runner import Processor

    steps = []
    from modules.core.results import JobControl
    control = JobControl(on_step=steps.append)
    result = merger.run(MergeRequest("demo-shapes", "demo-shapes-night", multiplier=0.5, name="half"), models,
                        control)
    assert result.checkpoint == "half" and steps and steps[-1].fraction == 1.0
    out = Path(result.path)
    for component in ("unet", "text_encoder", "vae"):
        a, b, m = (_weights(p, component) for p in (DEMO / "demo-shapes", DEMO / "demo-shapes-night", out))
        assert m.keys() == a.keys()
        for key, tensor in a.items():
            expected = (tensor.float() * 0.5 + b[key].float() * 0.5).to(tensor.dtype) \
                if tensor.is_floating_point() else tensor
            assert m[key].dtype == tensor.dtype
            assert torch.equal(m[key], expected), key
        if component == "unet":  # the two models differ, so the average is neither of them
            assert any(not torch.equal(m[k], a[k]) for k in a) and any(not torch.equal(m[k], b[k]) for k in a)
    with safe_open(str(out / "unet" / merge.DIFFUSERS_WEIGHTS["unet"]), "pt") as handle:
        meta = handle.metadata()
    recipe = json.loads(meta["sd_merge_recipe"])
    assert recipe["interp_method"] == "Weighted sum" and recipe["multiplier"] == 0.5
    sources = json.loads(meta["sd_merge_models"])
    assert {v["name"] for v in sources.values()} == {"demo-shapes", "demo-shapes-night"}
    assert recipe["primary_model_hash"] in sources
    # In every list at once, and it draws through the normal generation path.
    assert models.checkpoints.find("half").family == "demo"
    processor = Processor(models=models, samplers=samplers, outputs=None, save_images=False)
    drawn = processor.run(GenerationRequest(prompt="a red circle", checkpoint="half", steps=2, width=64, height=64,
                                            seed=1))
    assert drawn.images[0].size == (64, 64) and "Model: half" in drawn.info


def test_add_difference_is_a_plus_b_minus_c_times_m_exactly():
    a = {"x": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float16), "ids": torch.arange(3)}
    b = {"x": torch.tensor([2.0, 0.5, -1.0], dtype=torch.float16), "ids": torch.arange(3) + 5}
    c = {"x": torch.tensor([0.5, 0.5, 1.0], dtype=torch.float16), "ids": torch.arange(3) + 9}
    out, warnings = merge.merge_state_dicts(merge.Weights(a), merge.Weights(b), merge.Weights(c),
                                            method=merge.ADD_DIFFERENCE, multiplier=0.3)
    expected = (a["x"].float() + (b["x"].float() - c["x"].float()) * 0.3).half()
    assert torch.equal(out["x"], expected) and out["x"].dtype == torch.float16
    assert torch.equal(out["ids"], a["ids"]) and not warnings  # integer tensors (position ids) are the primary's
    half, _ = merge.merge_state_dicts(merge.Weights({"x": a["x"].float()}), merge.Weights({"x": b["x"].float()}),
                                      None, method=merge.WEIGHTED_SUM, multiplier=0.25, save_as_half=True)
    assert half["x"].dtype == torch.float16
    assert torch.equal(half["x"], (a["x"].float() * 0.75 + b["x"].float() * 0.25).half())


def test_block_weights_follow_the_original_layout_numbering():
    config = {"layers_per_block": 2}
    assert merge.block_of("unet.conv_in.weight", config) == "IN00"
    assert merge.block_of("unet.down_blocks.0.attentions.1.proj_in.weight", config) == "IN02"
    assert merge.block_of("unet.down_blocks.0.downsamplers.0.conv.weight", config) == "IN03"
    assert merge.block_of("unet.down_blocks.3.resnets.1.conv1.weight", config) == "IN11"
    assert merge.block_of("unet.mid_block.resnets.0.conv1.weight", config) == "M00"
    assert merge.block_of("unet.up_blocks.0.upsamplers.0.conv.weight", config) == "OUT02"
    assert merge.block_of("unet.up_blocks.3.attentions.2.proj_out.weight", config) == "OUT11"
    assert merge.block_of("model.diffusion_model.output_blocks.7.0.skip_connection.weight", {}) == "OUT07"
    assert merge.block_of("unet.time_embedding.linear_1.weight", config) is None
    a = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2),
         "model.diffusion_model.middle_block.0.weight": torch.zeros(2),
         "model.diffusion_model.output_blocks.0.0.weight": torch.zeros(2),
         "model.diffusion_model.time_embed.0.weight": torch.zeros(2)}
    b = {key: torch.ones(2) for key in a}
    out, _ = merge.merge_state_dicts(merge.Weights(a), merge.Weights(b), None, method=merge.WEIGHTED_SUM,
                                     multiplier=0.5, block_weights=(0.25, 1.0, 0.0))
    assert [out[k][0].item() for k in a] == [0.25, 1.0, 0.0, 0.5]
    with pytest.raises(merge.MergeError, match="3 UNet blocks"):
        merge.merge_state_dicts(merge.Weights(a), merge.Weights(b), None, method=merge.WEIGHTED_SUM,
                                multiplier=0.5, block_weights=(0.5,))


def test_a_single_file_merge_never_overwrites_and_keeps_the_layout(tmp_path):
    target = tmp_path / "mine.safetensors"
    target.write_bytes(b"the user's own file")
    tensors = {"model.diffusion_model.out.0.weight": torch.ones(2)}
    with pytest.raises(merge.MergeError, match="already exists"):
        merge.write_single_file(tensors, {"sd_merge_recipe": "{}"}, target)
    assert target.read_bytes() == b"the user's own file"
    assert [p.name for p in tmp_path.iterdir()] == ["mine.safetensors"]  # no temporary file left behind
    written = merge.write_single_file(tensors, {"sd_merge_recipe": "{}"}, tmp_path / "new.safetensors")
    assert torch.equal(load_file(str(written))["model.diffusion_model.out.0.weight"], torch.ones(2))


def test_a_typed_name_that_exists_is_refused_and_an_automatic_one_gets_a_suffix(models, models_dir):
    with pytest.raises(RequestError, match="demo-shapes-night already exists"):
        merger.check(MergeRequest("demo-shapes", "demo-shapes-night", name="demo-shapes-night"), models)
    (models_dir / "Stable-diffusion" / "demo-shapes_0.5-demo-shapes-night_0.5").mkdir()
    plan = merger.plan(MergeRequest("demo-shapes", "demo-shapes-night"), models)
    assert plan.target.name == "demo-shapes_0.5-demo-shapes-night_0.5-1"
    with pytest.raises(RequestError, match="not allowed"):
        merger.check(MergeRequest("demo-shapes", "demo-shapes-night", name="../escape"), models)


def test_checkpoints_of_another_family_are_refused_naming_both(models):
    with pytest.raises(RequestError, match=r"tiny-a .*demo-shapes"):
        merger.check(MergeRequest("demo-shapes", "tiny-a"), models)
    with pytest.raises(RequestError, match=r"demo-shapes-inpainting .*inpainting.*demo-shapes"):
        merger.check(MergeRequest("demo-shapes", "demo-shapes-inpainting"), models)
    with pytest.raises(RequestError, match="tertiary"):
        merger.check(MergeRequest("demo-shapes", "demo-shapes-night", method="add_difference"), models)


def test_a_baked_in_vae_replaces_the_vae_weights(models, models_dir):
    night_vae = _weights(DEMO / "demo-shapes-night", "vae")
    save_file(night_vae, str(models_dir / "VAE" / "night.safetensors"))
    models.refresh()
    result = merger.run(MergeRequest("demo-shapes", "demo-shapes-night", multiplier=0.0, name="baked",
                                     bake_in_vae="night.safetensors"), models)
    merged_vae = _weights(Path(result.path), "vae")
    assert all(torch.equal(merged_vae[k], night_vae[k]) for k in night_vae)
    unet = _weights(Path(result.path), "unet")
    assert all(torch.equal(unet[k], v) for k, v in _weights(DEMO / "demo-shapes", "unet").items())
    bad = {"encoder.conv_in.weight": torch.zeros(1)}
    save_file(bad, str(models_dir / "VAE" / "other.safetensors"))
    models.refresh()
    with pytest.raises(RequestError, match="does not fit"):
        merger.run(MergeRequest("demo-shapes", "demo-shapes-night", name="x", bake_in_vae="other"), models)
    assert not (models_dir / "Stable-diffusion" / "x").exists()


def test_an_interrupted_merge_writes_nothing(models, models_dir):
    from modules.core.results import JobControl

    control = JobControl()
    control.interrupt.set()
    result = merger.run(MergeRequest("demo-shapes", "demo-shapes-night", name="stopped"), models, control)
    assert result.interrupted and result.checkpoint == ""
    assert sorted(p.name for p in (models_dir / "Stable-diffusion").iterdir()) == [
        "demo-shapes", "demo-shapes-inpainting", "demo-shapes-night", "tiny-a"]


def test_diffusers_and_original_keys_of_sd1_fall_in_the_same_25_blocks(tmp_path):
    """Our diffusers numbering agrees with the original layout's on the real SD 1.x block layout."""
    from tests.core.test_single_file import _random_sd1_pipeline, _tiny_sd1_configs
    from tests.fixtures.original_layout import unet_to_original

    unet = _random_sd1_pipeline(_tiny_sd1_configs(tmp_path / "configs") / "sd1").unet
    diffusers_keys = list(unet.state_dict())
    tagged = {key: torch.tensor([float(n)]) for n, key in enumerate(diffusers_keys)}  # each weight marked
    original = unet_to_original(tagged)
    config = dict(unet.config)
    for key, tag in original.items():
        source = diffusers_keys[int(tag.item())]
        assert merge.block_of(key, {}) == merge.block_of(f"unet.{source}", config), (key, source)
    names = merge.block_names(original, {})
    assert len(names) == 25 and names[0] == "IN00" and names[12] == "M00" and names[-1] == "OUT11"
    assert merge.block_names({f"unet.{k}": v for k, v in tagged.items()}, config) == names


def test_a_merge_request_survives_a_restart_in_the_queue_folder(tmp_path):
    from modules.service.jobs import SavedJob
    from modules.service.queue_store import DEFAULT_TYPES, QueueFolder

    request = MergeRequest("a", "b", "c", method="add_difference", multiplier=0.7, block_weights=(0.1, 0.2),
                           name="x", save_as_half=True, bake_in_vae="v.safetensors")
    folder = QueueFolder(tmp_path / "queue", types=(*DEFAULT_TYPES, MergeRequest))
    folder.save(SavedJob(id="j1", owner="alice", seq=0, request=request, created=0.0))
    assert [job.request for job in folder.load()] == [request]  # read back from the file, field by field
