"""Processor: validate -> generate -> save, on tiny random models."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, Limits, RequestError
from modules.engine.models.manager import ModelNotFound
from modules.service.outputs import OutputStore
from modules.service.runner import Processor

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=16, height=16, steps=3, seed=42,
                         cfg_scale=5.0, sampler="Euler", checkpoint="tiny-a")


@pytest.fixture
def processor(manager, samplers, tmp_path):
    return Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"))


def saved_pngs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


def test_run_saves_one_png_per_image_with_its_infotext(processor, tmp_path):
    result = processor.run(replace(BASE, batch_size=2, batch_count=1), user=None)
    today = datetime.now().strftime("%Y-%m-%d")
    folder = tmp_path / "outputs" / "txt2img-images" / today
    files = saved_pngs(tmp_path / "outputs")
    assert [p.parent for p in files] == [folder, folder]
    assert [p.name for p in files] == ["00000-42.png", "00001-43.png"]
    assert result.paths == [str(p) for p in files]
    for path, seed, infotext in zip(files, result.seeds, result.infotexts):
        with Image.open(path) as image:
            assert image.size == (16, 16)
            parameters = image.info["parameters"]
        assert parameters == infotext
        parsed = parse_infotext(parameters)
        assert parsed.prompt == "a red circle" and parsed.negative_prompt == "blue"
        assert parsed.params["Seed"] == str(seed)
        assert parsed.params["Sampler"] == "Euler" and parsed.params["Steps"] == "3"
        assert parsed.params["Model"] == "tiny-a"
        assert re.fullmatch(r"[0-9a-f]{10}", parsed.params["Model hash"])


def test_run_normalises_the_request_first(processor):
    result = processor.run(replace(BASE, steps="2", width=16.0, sampler="euler", seed=-1))
    assert result.request.steps == 2 and result.request.sampler == "Euler"
    assert result.seeds[0] >= 0
    assert Path(result.paths[0]).name.endswith(f"-{result.seeds[0]}.png")


def test_saving_can_be_turned_off(manager, samplers, tmp_path):
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"), save_images=False)
    result = processor.run(BASE)
    assert len(result.images) == 1 and result.paths == []
    assert not (tmp_path / "out").exists()


def test_check_rejects_a_bad_request_before_generating(manager, samplers, tmp_path, monkeypatch):
    import modules.service.runner as processing

    monkeypatch.setattr(processing, "generate", lambda *a, **k: pytest.fail("generation started"))
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"),
                          limits=Limits(max_size=64))
    with pytest.raises(RequestError, match="multiple of 8"):
        processor.check(replace(BASE, width=15))
    with pytest.raises(RequestError, match="over the limit of 64"):
        processor.check(replace(BASE, height=128))
    with pytest.raises(RequestError, match="Unknown sampler"):
        processor.run(replace(BASE, sampler="Nope"))
    assert manager.loaded_names() == []  # nothing was even loaded
    assert not (tmp_path / "out").exists()


def test_check_rejects_an_unknown_checkpoint(processor, manager, tmp_path):
    with pytest.raises(ModelNotFound, match="'no-such-model' not found. Available: tiny-a, tiny-b"):
        processor.check(replace(BASE, checkpoint="no-such-model"))
    with pytest.raises(ModelNotFound):
        processor.run(replace(BASE, checkpoint="no-such-model"))
    assert manager.loaded_names() == []
    assert saved_pngs(tmp_path) == []


def test_check_returns_the_normalised_request(processor):
    checked = processor.check(replace(BASE, cfg_scale="6", sampler="DPM++ 2M Karras"))
    assert (checked.cfg_scale, checked.sampler, checked.schedule_type) == (6.0, "DPM++ 2M", "Karras")


def test_each_user_gets_their_own_folder(processor, tmp_path):
    result = processor.run(BASE, user="alice")
    assert Path(result.paths[0]).parent.parent == tmp_path / "outputs" / "alice" / "txt2img-images"


def test_failed_save_keeps_pictures_and_warns(manager, samplers, tmp_path):
    from modules.core.requests import GenerationRequest
    from modules.service.outputs import OutputStore
    from modules.service.runner import Processor

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outputs folder should be")
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(blocked))
    result = processor.run(GenerationRequest(prompt="x", width=16, height=16, steps=2, seed=1, checkpoint="tiny-a"))
    assert len(result.images) == 1 and result.paths == []
    assert any("Could not save" in w for w in result.warnings)
