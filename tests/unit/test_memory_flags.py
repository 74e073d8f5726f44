"""--memory and A1111's --medvram / --lowvram choose the memory policy; the VAE-approx folder is A1111's."""

from __future__ import annotations

import pytest

from modules.core.settings import settings_from_args


def test_memory_is_auto_unless_a_flag_forces_it():
    assert settings_from_args([]).memory == "auto"
    assert settings_from_args(["--memory", "full"]).memory == "full"


def test_a1111_launch_flags_medvram_and_lowvram_choose_offload_and_lowvram():
    assert settings_from_args(["--medvram"]).memory == "offload"
    assert settings_from_args(["--lowvram"]).memory == "lowvram"


def test_an_unknown_memory_policy_stops_the_start_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        settings_from_args(["--memory", "medium"])
    assert "auto, full, offload, lowvram" in capsys.readouterr().err.replace("'", "")


def test_tiny_decoders_are_looked_for_in_models_vae_approx(tmp_path):
    (tmp_path / "models" / "VAE-approx").mkdir(parents=True)
    settings = settings_from_args(["--models-dir", str(tmp_path / "models")])
    assert settings.paths.vae_approx == (tmp_path / "models" / "VAE-approx").resolve()
