"""Command-line flags (A1111 names, A1111 folder layout) and the persisted UI settings."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from modules.core.settings import REPO_ROOT, SettingsStore, apply_offline_environment, build_parser, settings_from_args

FLAGS = ("--listen", "--port", "--models-dir", "--ckpt-dir", "--lora-dir", "--vae-dir", "--controlnet-dir",
         "--embeddings-dir", "--outputs-dir", "--extensions-dir", "--device", "--precision", "--models-in-ram")


def a1111_tree(root: Path) -> Path:
    """An A1111 install: models/{Stable-diffusion,Lora,VAE,ControlNet}/ and embeddings/ beside models/."""
    models = root / "stable-diffusion-webui" / "models"
    for sub in ("Stable-diffusion", "Lora", "VAE", "ControlNet"):
        (models / sub).mkdir(parents=True)
    (models.parent / "embeddings").mkdir()
    return models


def test_defaults():
    settings = settings_from_args([])
    paths = settings.paths
    assert (settings.listen, settings.port, settings.host) == (False, 7860, "127.0.0.1")
    assert (settings.device, settings.precision, settings.models_in_ram) == ("auto", "auto", 2)
    assert settings.allow_downloads is False
    assert paths.checkpoints == REPO_ROOT / "models" / "Stable-diffusion"
    assert paths.loras == REPO_ROOT / "models" / "Lora"
    assert paths.vaes == REPO_ROOT / "models" / "VAE"
    assert paths.controlnets == REPO_ROOT / "models" / "ControlNet"
    assert paths.outputs == REPO_ROOT / "outputs"
    assert paths.extensions == REPO_ROOT / "extensions"


def test_listen_serves_on_all_interfaces():
    settings = settings_from_args(["--listen", "--port", "9000"])
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)


def test_models_dir_of_an_a1111_install_resolves_every_folder(tmp_path):
    models = a1111_tree(tmp_path)
    paths = settings_from_args(["--models-dir", str(models)]).paths
    assert paths.checkpoints == models / "Stable-diffusion"
    assert paths.loras == models / "Lora"
    assert paths.vaes == models / "VAE"
    assert paths.controlnets == models / "ControlNet"
    assert paths.embeddings == models.parent / "embeddings"  # beside models/, as A1111 has it
    for path in (paths.checkpoints, paths.loras, paths.vaes, paths.controlnets, paths.embeddings):
        assert path.is_dir() and path.is_absolute()


def test_embeddings_inside_models_win_when_both_exist(tmp_path):
    models = a1111_tree(tmp_path)
    (models / "embeddings").mkdir()
    assert settings_from_args(["--models-dir", str(models)]).paths.embeddings == models / "embeddings"


def test_relative_models_dir_is_made_absolute(tmp_path, monkeypatch):
    models = a1111_tree(tmp_path)
    monkeypatch.chdir(models.parent)
    assert settings_from_args(["--models-dir", "models"]).paths.checkpoints == models / "Stable-diffusion"


def test_explicit_folders_override_the_models_dir(tmp_path):
    models = a1111_tree(tmp_path)
    elsewhere = tmp_path / "big-disk"
    paths = settings_from_args([
        "--models-dir", str(models), "--ckpt-dir", str(elsewhere / "ckpt"), "--lora-dir", str(elsewhere / "loras"),
        "--vae-dir", str(elsewhere / "vae"), "--controlnet-dir", str(elsewhere / "cn"),
        "--embeddings-dir", str(elsewhere / "emb"), "--outputs-dir", str(elsewhere / "out"),
        "--extensions-dir", str(elsewhere / "ext"),
    ]).paths
    assert paths.checkpoints == elsewhere / "ckpt"
    assert paths.loras == elsewhere / "loras"
    assert paths.vaes == elsewhere / "vae"
    assert paths.controlnets == elsewhere / "cn"
    assert paths.embeddings == elsewhere / "emb"
    assert paths.outputs == elsewhere / "out"
    assert paths.extensions == elsewhere / "ext"


def test_ckpt_dir_alone_keeps_the_other_folders(tmp_path):
    models = a1111_tree(tmp_path)
    paths = settings_from_args(["--models-dir", str(models), "--ckpt-dir", str(tmp_path / "ckpt")]).paths
    assert paths.checkpoints == tmp_path / "ckpt"
    assert paths.loras == models / "Lora"


def test_device_precision_and_models_in_ram():
    settings = settings_from_args(["--device", "cpu", "--precision", "fp32", "--models-in-ram", "3"])
    assert (settings.device, settings.precision, settings.models_in_ram) == ("cpu", "fp32", 3)


@pytest.mark.parametrize("argv", [["--device", "tpu"], ["--precision", "fp8"], ["--models-in-ram", "0"],
                                  ["--port", "http"]])
def test_bad_flags_exit_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        settings_from_args(argv)
    assert exit_info.value.code != 0
    message = str(exit_info.value.code) + capsys.readouterr().err
    assert argv[0] in message


def test_help_lists_the_flags():
    text = build_parser().format_help()
    for flag in FLAGS:
        assert flag in text, flag


def test_webui_help_runs_and_lists_the_flags():
    proc = subprocess.run([sys.executable, "webui.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in FLAGS:
        assert flag in proc.stdout, flag


# ---------------------------------------------------------------------------------------------- environment


def test_offline_environment_by_default():
    env: dict[str, str] = {}
    apply_offline_environment(False, env)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_allow_downloads_leaves_the_hub_reachable():
    env: dict[str, str] = {}
    apply_offline_environment(True, env)
    assert "HF_HUB_OFFLINE" not in env


def test_offline_environment_does_not_touch_the_real_environment_when_given_a_dict(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    apply_offline_environment(False, {})
    import os

    assert "HF_HUB_OFFLINE" not in os.environ


# ---------------------------------------------------------------------------------------------- SettingsStore

DEFAULTS = {"preview_every": 5, "default_negative_prompt": ""}


def test_missing_file_gives_defaults_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="modules.core.settings")
    store = SettingsStore(tmp_path / "settings.json", DEFAULTS)
    assert store.values == DEFAULTS
    assert store.get("preview_every") == 5
    assert any("no settings file" in r.getMessage() and "settings.json" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "settings.json").exists()  # reading creates nothing


def test_corrupt_file_gives_defaults_and_is_kept_aside(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text('{"preview_every": 3,', encoding="utf-8")
    caplog.set_level(logging.INFO, logger="modules.core.settings")
    store = SettingsStore(path, DEFAULTS)
    assert store.values == DEFAULTS
    backup = tmp_path / "settings.json.corrupt"
    assert backup.read_text(encoding="utf-8") == '{"preview_every": 3,'
    assert not path.exists()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "settings.json.corrupt" in warnings[0].getMessage()


def test_json_list_instead_of_object_gives_defaults(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    store = SettingsStore(path, DEFAULTS)
    assert store.values == DEFAULTS
    assert (tmp_path / "settings.json.corrupt").exists()
    assert any("list" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_undecodable_bytes_give_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert SettingsStore(path, DEFAULTS).values == DEFAULTS


def test_update_persists_and_reloads(tmp_path):
    path = tmp_path / "sub" / "settings.json"
    store = SettingsStore(path, DEFAULTS)
    store.update({"preview_every": 2, "theme": "dark"})
    assert json.loads(path.read_text(encoding="utf-8"))["preview_every"] == 2
    again = SettingsStore(path, DEFAULTS)
    assert again.get("preview_every") == 2
    assert again.get("theme") == "dark"
    assert again.get("default_negative_prompt") == ""
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left behind


def test_new_defaults_fill_in_for_an_older_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"preview_every": 1}', encoding="utf-8")
    store = SettingsStore(path, {**DEFAULTS, "new_option": True})
    assert store.get("preview_every") == 1
    assert store.get("new_option") is True


def test_defaults_are_not_shared_with_the_caller(tmp_path):
    defaults = dict(DEFAULTS)
    store = SettingsStore(tmp_path / "settings.json", defaults)
    store.update({"preview_every": 9})
    assert defaults["preview_every"] == 5


def test_a_corrupt_per_user_file_is_kept_aside_not_overwritten(tmp_path):
    from modules.core.settings import UserSettingsStore

    path = tmp_path / "user-settings.json"
    path.write_text('{"alice": {"sd_model_checkpoint": "mine"', encoding="utf-8")  # cut short by a crash
    (tmp_path / "user-settings.json.corrupt").write_text("an older corrupt copy", encoding="utf-8")
    store = UserSettingsStore(path)
    assert store.get("alice") == {}
    store.update("bob", {"sd_vae": "x"})
    kept = tmp_path / "user-settings.json.corrupt-2"
    assert kept.read_text(encoding="utf-8") == '{"alice": {"sd_model_checkpoint": "mine"'
    assert (tmp_path / "user-settings.json.corrupt").read_text(encoding="utf-8") == "an older corrupt copy"


def test_a_per_user_file_of_the_wrong_shape_is_kept_aside_too(tmp_path):
    from modules.core.settings import UserSettingsStore

    path = tmp_path / "user-settings.json"
    path.write_text('{"alice": {"sd_vae": "x"}, "bob": 5}', encoding="utf-8")
    store = UserSettingsStore(path)
    store.update("carol", {"sd_vae": "y"})
    assert (tmp_path / "user-settings.json.corrupt").read_text(encoding="utf-8") == '{"alice": {"sd_vae": "x"}, "bob": 5}'
