"""Extension hooks around real generation (tiny models): the job succeeds whatever the extensions do."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.results import JobControl
from modules.service.extensions import FAILED, load_extensions
from modules.service.outputs import OutputStore
from modules.service.runner import Processor
from tests.fixtures.fake_extensions import GOOD, RAISES_IN_HOOK, write_extension

BASE = GenerationRequest(prompt="a red circle", width=16, height=16, steps=2, seed=7, sampler="Euler",
                         checkpoint="tiny-a")

WATCHER = """
API_VERSION = 1
seen = {"steps": [], "saved": [], "models": []}

def setup(api):
    api.on_step(lambda info: seen["steps"].append((info.step, info.steps)))
    api.image_saved(lambda path, image, infotext: seen["saved"].append((path, image.size, infotext)))
    api.model_loaded(lambda model: seen["models"].append(model.info.name))
"""

SCRIPT = """
from PIL import Image
from modules import extension_api as ext

API_VERSION = 1

def setup(api):
    def check(request, ctx):
        if api.values(request).get("times", 2) < 1:
            raise ValueError("times must be at least 1")

    def run(request, ctx):
        cells = [ctx.process(ext.replace(request, seed=request.seed + i)) for i in range(api.values(request).get("times", 2))]
        grid = Image.new("RGB", (16 * len(cells), 16))
        for i, cell in enumerate(cells):
            grid.paste(cell.images[0], (16 * i, 0))
        first = cells[0]
        ctx.save(grid, request.seed, first.infotexts[0], "grids")
        first.images.insert(0, grid)
        return first

    api.register_script("Repeat", run, check)
"""


@pytest.fixture
def host(tmp_path):
    root = tmp_path / "extensions"
    write_extension(root, "good", GOOD)
    write_extension(root, "in-hook", RAISES_IN_HOOK)
    write_extension(root, "watcher", WATCHER)
    write_extension(root, "repeat", SCRIPT)
    return load_extensions(root)


@pytest.fixture
def processor(manager, samplers, tmp_path, host):
    manager.listeners.append(host.model_loaded)
    return Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"), extensions=host)


def watcher_seen(host):
    import sys

    return sys.modules["webui_ext_watcher.extension"].seen


def test_hooks_run_and_a_failing_hook_does_not_fail_the_job(processor, host, tmp_path):
    result = processor.run(BASE, JobControl())
    assert len(result.images) == 1
    parsed = parse_infotext(result.infotexts[0])
    assert parsed.prompt == "a red circle, good-suffix"  # before_generate's change reached the core
    assert parsed.params["Good"] == "yes"  # after_generate's field reached the saved file
    with Image.open(result.paths[0]) as saved:
        assert "Good: yes" in saved.info["parameters"]
    assert "should not run" not in result.infotexts[0]
    assert host.get("in-hook").status == FAILED
    seen = watcher_seen(host)
    assert seen["steps"] == [(1, 2), (2, 2)]
    assert seen["saved"] == [(result.paths[0], (16, 16), result.infotexts[0])]
    assert seen["models"] == ["tiny-a"]


def test_on_step_hooks_run_alongside_the_job_progress(processor, host):
    progress = []
    processor.run(BASE, JobControl(on_step=lambda info: progress.append(info.step)))
    assert progress == [1, 2]
    assert watcher_seen(host)["steps"] == [(1, 2), (2, 2)]


def test_a_script_runs_the_job_and_saves_its_grid_and_cells(processor, tmp_path):
    request = replace(BASE, extra={"script": "repeat", "repeat": {"times": 2}})
    result = processor.run(request)
    assert result.images[0].size == (32, 16)
    cells = sorted((tmp_path / "outputs" / "txt2img-images").rglob("*.png"))
    grids = sorted((tmp_path / "outputs" / "txt2img-grids").rglob("*.png"))
    assert [p.name.split("-", 1)[1] for p in cells] == ["7.png", "8.png"]
    assert len(grids) == 1
    for path, seed in zip(cells, (7, 8)):
        with Image.open(path) as image:
            assert parse_infotext(image.info["parameters"]).params["Seed"] == str(seed)


def test_script_values_are_checked_before_queueing_and_unknown_scripts_are_refused(processor):
    with pytest.raises(ValueError, match="times must be at least 1"):
        processor.check(replace(BASE, extra={"script": "repeat", "repeat": {"times": 0}}))
    with pytest.raises(RequestError, match="Unknown script 'nope'.*repeat \\(Repeat\\)"):
        processor.check(replace(BASE, extra={"script": "nope"}))


def test_a_hook_returning_an_invalid_request_fails_the_job_with_the_reason(manager, samplers, tmp_path):
    write_extension(tmp_path / "ext", "huge", """
        from modules import extension_api as ext
        API_VERSION = 1
        def setup(api):
            api.before_generate(lambda request: ext.replace(request, width=13))
    """)
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"),
                          extensions=load_extensions(tmp_path / "ext"))
    with pytest.raises(RequestError, match="multiple of 8"):
        processor.run(BASE)
