"""The model manager and the checkpoint registry on tiny random models: LRU, freeing, names, hash cache, scan."""

from __future__ import annotations

import gc
import os
import re
import shutil
import sys
import time
import weakref
from pathlib import Path

import pytest
import torch

from modules.engine.models import registry as registry_module
from modules.engine.models.manager import ModelManager, ModelNotFound, load_pipeline
from modules.engine.models.registry import CheckpointRegistry, HashCache


class CountingLoader:
    """The real loader, counting calls per checkpoint name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, info, device):
        self.calls.append(info.name)
        return load_pipeline(info, device)


def make_manager(checkpoints: Path, tmp_path: Path, device, models_in_ram: int, loader=None) -> ModelManager:
    manager = ModelManager(checkpoints_dir=checkpoints, vae_dir=tmp_path / "VAE", cache_file=tmp_path / "cache.json",
                           device=device, models_in_ram=models_in_ram, loader=loader or load_pipeline)
    manager.refresh()
    return manager


def switch(manager: ModelManager, name: str) -> None:
    with manager.use(name) as loaded:
        assert loaded.info.name == name


def link(target: Path, where: Path) -> Path:
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(target, target_is_directory=target.is_dir())
    return where


# ---------------------------------------------------------------------------------------------- LRU


def test_one_model_in_ram_reloads_on_every_switch(tiny_models_dir, tmp_path, cpu_fp32):
    loader = CountingLoader()
    manager = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 1, loader)
    for name in ("tiny-a", "tiny-b", "tiny-a"):
        switch(manager, name)
    assert loader.calls == ["tiny-a", "tiny-b", "tiny-a"]
    assert len(manager.loaded_names()) == 1


def test_two_models_in_ram_load_each_once(tiny_models_dir, tmp_path, cpu_fp32):
    loader = CountingLoader()
    manager = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 2, loader)
    for name in ("tiny-a", "tiny-b", "tiny-a", "tiny-b", "tiny-a"):
        switch(manager, name)
    assert loader.calls == ["tiny-a", "tiny-b"]


def test_switching_to_a_cached_model_does_not_call_the_loader(tiny_models_dir, tmp_path, cpu_fp32):
    loader = CountingLoader()
    manager = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 2, loader)
    switch(manager, "tiny-a")
    first = manager.load(manager.resolve("tiny-a"))
    switch(manager, "tiny-b")
    loader.calls.clear()
    with manager.use("tiny-a") as loaded:
        assert loaded is first  # the very same pipeline object
    assert loader.calls == []


def test_least_recently_used_is_evicted(tiny_models_dir, tmp_path, cpu_fp32):
    # Three checkpoints (one a second name for tiny-a), room for two: using a again makes b the oldest.
    root = tmp_path / "ckpt"
    link(tiny_models_dir / "Stable-diffusion" / "tiny-a", root / "a")
    link(tiny_models_dir / "Stable-diffusion" / "tiny-b", root / "b")
    link(tiny_models_dir / "Stable-diffusion" / "tiny-a", root / "c")
    loader = CountingLoader()
    manager = make_manager(root, tmp_path, cpu_fp32, 2, loader)
    for name in ("a", "b", "a", "c", "a", "b"):
        switch(manager, name)
    assert loader.calls == ["a", "b", "c", "b"]


def _load_and_get_unet_ref(manager: ModelManager, name: str) -> weakref.ref:
    with manager.use(name) as loaded:
        return weakref.ref(loaded.pipe.unet)


def test_an_evicted_pipeline_is_freed(tiny_models_dir, tmp_path, cpu_fp32):
    manager = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 1)
    unet_a = _load_and_get_unet_ref(manager, "tiny-a")
    assert unet_a() is not None  # still cached
    unet_b = _load_and_get_unet_ref(manager, "tiny-b")
    gc.collect()
    assert unet_a() is None, f"tiny-a's UNet is still referenced by: {[type(r) for r in gc.get_referrers(unet_a())]}"
    assert unet_b() is not None
    manager.unload_all()
    gc.collect()
    assert unet_b() is None


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture(scope="module")
def medium_models_dir(tmp_path_factory) -> Path:
    from tests.fixtures.tiny import MEDIUM, save_tiny_pipeline

    root = tmp_path_factory.mktemp("medium-models")
    for name, seed in (("medium-a", 0), ("medium-b", 1)):
        save_tiny_pipeline(root / name, seed, MEDIUM)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmRSS from /proc/self/status")
def test_rss_does_not_grow_over_many_switches(medium_models_dir, tmp_path, cpu_fp32):
    manager = make_manager(medium_models_dir, tmp_path, cpu_fp32, 1)
    names = ["medium-a", "medium-b"] * 10
    for name in names[:2]:
        switch(manager, name)
    model_mb = sum(p.numel() * p.element_size() for p in manager.load(manager.resolve("medium-b")).pipe.unet.parameters()) / 2**20
    assert model_mb > 20  # big enough for a leak of one model per switch to show
    baseline = _rss_mb()
    for name in names[2:]:
        switch(manager, name)
    grown = _rss_mb() - baseline
    assert grown < 150, f"RSS grew by {grown:.0f} MB over 18 switches (UNet is {model_mb:.0f} MB)"


# ---------------------------------------------------------------------------------------------- names


def test_resolve_none_picks_the_default(manager):
    default = manager.default_checkpoint()
    assert default is not None and default.name == "tiny-a"
    assert manager.resolve(None) == default
    assert manager.resolve("") == default


def test_unknown_name_lists_available_titles(manager):
    with pytest.raises(ModelNotFound) as err:
        manager.resolve("sd_xl_base_1.0.safetensors")
    message = str(err.value)
    assert "sd_xl_base_1.0.safetensors" in message
    assert "tiny-a" in message and "tiny-b" in message


def test_no_checkpoint_at_all_says_where_to_put_one(tmp_path, cpu_fp32):
    manager = make_manager(tmp_path / "empty", tmp_path, cpu_fp32, 1)
    assert manager.checkpoints.all() == []
    with pytest.raises(ModelNotFound, match="No usable checkpoint in .*empty"):
        manager.resolve(None)


def test_title_carries_the_short_hash_after_a_load(manager):
    assert manager.resolve("tiny-a").title == "tiny-a"  # not hashed yet: hashing waits for a load
    with manager.use("tiny-a") as loaded:
        assert re.fullmatch(r"tiny-a \[[0-9a-f]{10}\]", loaded.info.title)
    info = manager.resolve("tiny-a")
    assert re.fullmatch(r"tiny-a \[[0-9a-f]{10}\]", info.title)
    # The title, the short hash and the name all find it again.
    assert manager.resolve(info.title) == info
    assert manager.resolve(info.short_hash) == info
    assert manager.resolve(info.title).sha256.startswith(info.short_hash)


def test_the_hash_is_remembered_across_restarts(tiny_models_dir, tmp_path, cpu_fp32, monkeypatch):
    manager = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 1)
    switch(manager, "tiny-b")
    title = manager.resolve("tiny-b").title
    monkeypatch.setattr(registry_module, "sha256_folder",
                        lambda folder: pytest.fail("the hash was computed again although the folder is unchanged"))
    again = make_manager(tiny_models_dir / "Stable-diffusion", tmp_path, cpu_fp32, 1)
    assert again.resolve("tiny-b").title == title


# ---------------------------------------------------------------------------------------------- hash cache


class CountingDescribe:
    def __init__(self, real) -> None:
        self.real = real
        self.paths: list[str] = []

    def __call__(self, path):
        self.paths.append(Path(path).name)
        return self.real(path)


def test_refresh_reads_only_new_or_changed_checkpoints(tiny_models_dir, tmp_path, monkeypatch):
    root = tmp_path / "ckpt"
    for name in ("tiny-a", "tiny-b"):
        shutil.copytree(tiny_models_dir / "Stable-diffusion" / name, root / name)
    describe = CountingDescribe(registry_module._describe_folder)
    monkeypatch.setattr(registry_module, "_describe_folder", describe)
    cache_file = tmp_path / "cache.json"

    registry = CheckpointRegistry(root, HashCache(cache_file))
    first = registry.refresh()
    assert sorted(describe.paths) == ["tiny-a", "tiny-b"]
    assert registry.refresh() == first
    assert len(describe.paths) == 2, "an unchanged folder was read again"
    # A new process (a fresh cache object on the same file) doesn't read them either.
    assert CheckpointRegistry(root, HashCache(cache_file)).refresh() == first
    assert len(describe.paths) == 2

    # Touch one file of tiny-b: its mtime changes, so it (and only it) is read again.
    config = root / "tiny-b" / "unet" / "config.json"
    later = config.stat().st_mtime + 10
    os.utime(config, (later, later))
    registry.refresh()
    assert describe.paths[2:] == ["tiny-b"]


def test_a_changed_file_gets_a_new_hash(tiny_models_dir, tmp_path):
    root = tmp_path / "ckpt"
    shutil.copytree(tiny_models_dir / "Stable-diffusion" / "tiny-a", root / "tiny-a")
    registry = CheckpointRegistry(root, HashCache(tmp_path / "cache.json"))
    (info,) = registry.refresh()
    old = registry.ensure_hash(info).sha256
    with open(root / "tiny-a" / "model_index.json", "a", encoding="utf-8") as fh:
        fh.write("\n")
    (info,) = registry.refresh()
    assert info.sha256 is None  # the cached hash belonged to the old bytes
    assert registry.ensure_hash(info).sha256 != old


def test_a_corrupt_cache_file_is_rebuilt(tiny_models_dir, tmp_path, caplog):
    cache_file = tmp_path / "cache.json"
    cache_file.write_text("{not json", encoding="utf-8")
    registry = CheckpointRegistry(tiny_models_dir / "Stable-diffusion", HashCache(cache_file))
    assert [i.name for i in registry.refresh() if i.usable] == ["tiny-a", "tiny-b"]
    assert "unreadable" in caplog.text
    assert "tiny-a" in cache_file.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- scan


class Gadget:
    """Any Python object in a pickle: loading it would mean running code named by the file."""

    def __init__(self) -> None:
        self.payload = "print('hello')"


def test_corrupt_and_unsafe_files_are_listed_as_unusable(tiny_models_dir, tmp_path, cpu_fp32):
    root = tmp_path / "ckpt"
    link(tiny_models_dir / "Stable-diffusion" / "tiny-a", root / "tiny-a")
    (root / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": nonsense}")
    (root / "sub").mkdir()
    (root / "sub" / "empty.safetensors").write_bytes(b"")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Gadget()}, root / "gadget.ckpt")
    manager = make_manager(root, tmp_path, cpu_fp32, 1)

    by_name = {i.name: i for i in manager.checkpoints.all()}
    assert set(by_name) == {"tiny-a", "broken.safetensors", "sub/empty.safetensors", "gadget.ckpt"}
    assert by_name["tiny-a"].usable
    for name in ("broken.safetensors", "sub/empty.safetensors"):
        assert not by_name[name].usable
        assert "not a valid safetensors file" in by_name[name].error
        assert "re-download" in by_name[name].error
    gadget = by_name["gadget.ckpt"].error
    assert gadget is not None and "run any code" in gadget and "Gadget" in gadget

    # The scan went on, the good checkpoint is the default, and asking for a bad one explains why.
    assert [i.name for i in manager.checkpoints.usable()] == ["tiny-a"]
    assert manager.resolve(None).name == "tiny-a"
    with pytest.raises(ModelNotFound, match="broken.safetensors cannot be used: .*not a valid safetensors"):
        manager.resolve("broken.safetensors")
    with pytest.raises(ModelNotFound, match="gadget.ckpt cannot be used"):
        manager.resolve("gadget")


def test_an_unusable_diffusers_folder_does_not_break_the_scan(tiny_models_dir, tmp_path, cpu_fp32):
    root = tmp_path / "ckpt"
    link(tiny_models_dir / "Stable-diffusion" / "tiny-b", root / "tiny-b")
    (root / "half").mkdir()
    (root / "half" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}', encoding="utf-8")
    manager = make_manager(root, tmp_path, cpu_fp32, 1)
    half = manager.checkpoints.find("half")
    assert half is not None and not half.usable and "half" in half.error
    assert manager.resolve(None).name == "tiny-b"


@pytest.fixture(scope="module")
def demo_shapes(tmp_path_factory) -> Path:
    from tests.fixtures.tiny import save_tiny_pipeline

    folder = save_tiny_pipeline(tmp_path_factory.mktemp("demo") / "demo-shapes", 3)
    # Our trainer's export writes this record; it is what marks a folder as the bundled demo family.
    (folder / "training.json").write_text('{"model": "demo-shapes", "image_size": 16}\n', encoding="utf-8")
    return folder


def test_default_prefers_the_users_checkpoint_over_the_demo(tiny_models_dir, demo_shapes, tmp_path, cpu_fp32):
    root = tmp_path / "ckpt"
    link(demo_shapes, root / "demo-shapes")
    link(tiny_models_dir / "Stable-diffusion" / "tiny-b", root / "tiny-b")
    manager = make_manager(root, tmp_path, cpu_fp32, 1)
    assert [i.name for i in manager.checkpoints.usable()] == ["demo-shapes", "tiny-b"]  # the demo sorts first
    assert manager.checkpoints.find("demo-shapes").family == "demo"
    assert manager.default_checkpoint().name == "tiny-b"
    assert manager.resolve(None).name == "tiny-b"


def test_the_demo_is_the_default_when_it_is_alone(demo_shapes, tmp_path, cpu_fp32):
    root = tmp_path / "ckpt"
    link(demo_shapes, root / "demo-shapes")
    manager = make_manager(root, tmp_path, cpu_fp32, 1)
    assert manager.default_checkpoint().name == "demo-shapes"


def test_listeners_hear_about_each_load(manager):
    heard = []
    manager.listeners.append(lambda loaded: heard.append((loaded.info.name, time.monotonic())))
    switch(manager, "tiny-a")
    switch(manager, "tiny-a")
    assert [name for name, _ in heard] == ["tiny-a"]
