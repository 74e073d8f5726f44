"""Settings' "Live previews and memory": the admin's preview method reaches the job runner, and choosing fp8
weights for a checkpoint makes its next job load it with an fp8 UNet (and unchoosing it, without)."""

from __future__ import annotations

import torch

from modules.core.settings import settings_from_args
from modules.ui.memory_settings import apply_settings, current, found_text


def _services(tiny_models_dir, tmp_path, cpu_fp32):
    from modules.service.services import build_services

    settings = settings_from_args(["--models-dir", str(tiny_models_dir), "--outputs-dir", str(tmp_path / "out"),
                                   "--settings-file", str(tmp_path / "settings.json")])
    return build_services(settings, cpu_fp32)


def test_the_preview_method_is_saved_and_used_by_the_next_job(tiny_models_dir, tmp_path, cpu_fp32):
    services = _services(tiny_models_dir, tmp_path, cpu_fp32)
    assert services.processor.preview_method == "TAESD"
    values, note = apply_settings(services, current(services), "Approx cheap", [])
    assert values["show_progress_type"] == "Approx cheap" and "Saved: Live preview method" in note
    assert services.processor.preview_method == "Approx cheap"
    assert _services(tiny_models_dir, tmp_path, cpu_fp32).processor.preview_method == "Approx cheap"  # kept


def test_fp8_weights_chosen_for_a_checkpoint_act_on_its_next_load_and_survive_a_restart(tiny_models_dir, tmp_path,
                                                                                        cpu_fp32):
    services = _services(tiny_models_dir, tmp_path, cpu_fp32)
    first = services.models.load(services.models.resolve("tiny-a"))
    assert first.pipe.unet.conv_in.weight.dtype == torch.float32
    values, _ = apply_settings(services, current(services), "TAESD", ["tiny-a", "not-a-checkpoint"])
    assert values["fp8_checkpoints"] == ["tiny-a"]  # unknown names are left out
    loaded = services.models.load(services.models.resolve("tiny-a"))
    assert loaded is not first and loaded.placement.fp8
    assert loaded.pipe.unet.down_blocks[0].resnets[0].conv1.weight.dtype == torch.float8_e4m3fn
    assert _services(tiny_models_dir, tmp_path, cpu_fp32).models.fp8_checkpoints == {"tiny-a"}
    apply_settings(services, current(services), "TAESD", [])
    assert not services.models.load(services.models.resolve("tiny-a")).placement.fp8


def test_the_section_says_which_tiny_decoders_it_found(tiny_models_dir, tmp_path, cpu_fp32):
    services = _services(tiny_models_dir, tmp_path, cpu_fp32)
    assert "No tiny decoder" in found_text(services)
