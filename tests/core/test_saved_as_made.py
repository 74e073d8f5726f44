"""Each picture is on disk the moment it is made: a crash late in a long batch keeps what was drawn before it.
An out-of-memory retry does not write the same picture twice; extensions' after_generate fields still reach
the saved file; half-written temporary files of a crash are removed at start."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from diffusers import UNet2DConditionModel
from PIL import Image

from modules.core.requests import GenerationRequest
from modules.core.results import JobControl
from modules.service.outputs import TEMP_PREFIX, OutputStore
from modules.service.runner import Processor

BASE = GenerationRequest(prompt="a red circle", width=16, height=16, steps=2, seed=7, cfg_scale=5.0,
                         sampler="Euler", checkpoint="tiny-a")


def pictures(root) -> list[str]:
    return sorted(p.name for p in root.rglob("*.png"))


def test_pictures_drawn_before_a_crash_are_on_disk(manager, samplers, tmp_path, monkeypatch):
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"))
    calls = {"n": 0}
    forward = UNet2DConditionModel.forward

    def dies_in_the_third_batch(self, sample, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 4:  # two steps per batch: the third batch never finishes
            raise RuntimeError("the process was killed (simulated)")
        return forward(self, sample, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", dies_in_the_third_batch)
    with pytest.raises(RuntimeError, match="killed"):
        processor.run(replace(BASE, batch_count=5), JobControl())
    assert pictures(tmp_path / "outputs") == ["00000-7.png", "00001-8.png"]


def test_an_out_of_memory_retry_writes_each_picture_once(manager, samplers, tmp_path, monkeypatch):
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"))
    forward = UNet2DConditionModel.forward
    state = {"failed": False}

    def fails_once_late(self, sample, *args, **kwargs):
        # The second batch of two runs out of memory once: the first batch's pictures are already saved.
        if sample.shape[0] == 4 and not state["failed"] and len(pictures(tmp_path / "outputs")) == 2:
            state["failed"] = True
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(self, sample, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", fails_once_late)
    result = processor.run(replace(BASE, batch_size=2, batch_count=2))
    assert state["failed"]
    assert pictures(tmp_path / "outputs") == ["00000-7.png", "00001-8.png", "00002-9.png", "00003-10.png"]
    assert [p.rsplit("/", 1)[-1] for p in result.paths] == pictures(tmp_path / "outputs")


def test_after_generate_fields_reach_the_picture_saved_early(manager, samplers, tmp_path):
    from modules.service.extensions import ExtensionHost, load_extensions
    from tests.fixtures.fake_extensions import GOOD, write_extension

    root = tmp_path / "extensions"
    write_extension(root, "good", GOOD)
    host: ExtensionHost = load_extensions(root)
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                          extensions=host)
    result = processor.run(BASE, JobControl())
    with Image.open(result.paths[0]) as saved:
        assert "Good: yes" in saved.info["parameters"]
    assert saved.info["parameters"] == result.infotexts[0]
    assert pictures(tmp_path / "outputs") == ["00000-7.png"]


def test_stale_temporary_files_are_removed_and_pictures_kept(tmp_path):
    store = OutputStore(tmp_path / "outputs")
    day = tmp_path / "outputs" / "bob" / "txt2img-images" / "2026-12-01"
    day.mkdir(parents=True)
    (day / f"{TEMP_PREFIX}abc.png").write_bytes(b"half")
    Image.new("RGB", (4, 4)).save(day / "00000-1.png")
    assert store.remove_stale_temporaries() == 1
    assert sorted(p.name for p in day.iterdir()) == ["00000-1.png"]
