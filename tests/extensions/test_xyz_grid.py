"""xyz-grid: axis values, the labelled grid, and a real plot on the tiny models (each cell saved with its own
infotext)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.service.extensions import load_extensions
from modules.service.outputs import OutputStore
from modules.service.runner import Processor
from tests.extensions.conftest import SHIPPED, shipped_module

CTX = SimpleNamespace(sampler_names=lambda: ["Euler", "Euler a", "DPM++ 2M"],
                      checkpoint_names=lambda: ["tiny-a [0123456789]", "tiny-b"])


@pytest.fixture
def axes():
    return shipped_module("xyz-grid", "axes")


def test_number_lists_and_a1111_ranges(axes):
    assert axes.numbers("1, 3,7", axes._int) == [1, 3, 7]
    assert axes.numbers("1-5", axes._int) == [1, 2, 3, 4, 5]
    assert axes.numbers("1-9 (+3)", axes._int) == [1, 4, 7]
    assert axes.numbers("10-1 (-4)", axes._int) == [10, 6, 2]
    assert axes.numbers("1-2 [3]", float) == [1.0, 1.5, 2.0]
    assert axes.numbers("5-7 [3]", axes._int) == [5, 6, 7]
    with pytest.raises(ValueError, match="not a whole number"):
        axes.numbers("1.5", axes._int)
    with pytest.raises(ValueError, match="never gets"):
        axes.numbers("1-5 (-1)", axes._int)


def test_samplers_and_checkpoints_are_checked_by_name(axes):
    assert axes.AXES["Sampler"].parse("euler a, DPM++ 2M", CTX) == ["Euler a", "DPM++ 2M"]
    assert axes.AXES["Checkpoint"].parse("tiny-a, tiny-b", CTX) == ["tiny-a [0123456789]", "tiny-b"]
    with pytest.raises(ValueError, match="Unknown sampler 'Nope'. Available: Euler"):
        axes.AXES["Sampler"].parse("Nope", CTX)


def test_prompt_search_and_replace_and_lora_weight(axes):
    request = GenerationRequest(prompt="a red cat <lora:pastel:0.8>", negative_prompt="red blur")
    sr = axes.AXES["Prompt S/R"]
    pairs = sr.parse('red, "blue, green"', CTX)
    assert [sr.apply(request, p).prompt for p in pairs] == ["a red cat <lora:pastel:0.8>",
                                                            "a blue, green cat <lora:pastel:0.8>"]
    assert sr.apply(request, pairs[1]).negative_prompt == "blue, green blur"
    with pytest.raises(ValueError, match="'purple' is not in the prompt"):
        axes.plan({"x_type": "Prompt S/R", "x_values": "purple, red"}, request, CTX, 10)
    lora = axes.AXES["LoRA weight"]
    assert lora.apply(request, 0.25).prompt == "a red cat <lora:pastel:0.25>"
    with pytest.raises(ValueError, match="no <lora:name:weight> tag"):
        axes.plan({"x_type": "LoRA weight", "x_values": "0.5, 1"}, GenerationRequest(prompt="cat"), CTX, 10)


def test_plan_limits_the_number_of_cells(axes):
    request = GenerationRequest(prompt="cat")
    with pytest.raises(ValueError, match="12 cells, more than the limit of 10"):
        axes.plan({"x_type": "Steps", "x_values": "1-4", "y_type": "Seed", "y_values": "1-3"}, request, CTX, 10)
    with pytest.raises(ValueError, match="X values are empty"):
        axes.plan({"x_type": "Steps", "x_values": ""}, request, CTX, 10)


def test_grid_has_room_for_labels_and_the_cells_in_place():
    grid = shipped_module("xyz-grid", "grid")
    red, blue = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (32, 32), "blue")
    plain = grid.draw_grid([[red, blue]], [], [])
    assert plain.size == (64, 32)
    assert plain.getpixel((5, 5)) == (255, 0, 0) and plain.getpixel((40, 5)) == (0, 0, 255)
    labelled = grid.draw_grid([[red, blue], [blue, None]], ["Steps: 1", "Steps: 2"], ["Seed: 1", "Seed: 2"], "Z")
    assert labelled.width > 64 and labelled.height > 64
    assert labelled.getpixel((labelled.width - 1, labelled.height - 1)) == (255, 255, 255)  # the missing cell
    label_area = labelled.crop((0, 0, labelled.width, labelled.height - 64)).convert("L")
    assert label_area.getextrema()[0] < 128  # some text was drawn


def test_a_plot_saves_every_cell_with_its_own_infotext_and_a_labelled_grid(manager, samplers, tmp_path):
    host = load_extensions(SHIPPED)  # the shipped folder: xyz-grid among the others, as the app loads it
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                          extensions=host)
    request = GenerationRequest(prompt="a red circle", width=16, height=16, steps=1, seed=5, sampler="Euler",
                                checkpoint="tiny-a", extra={"script": "xyz-grid", "xyz-grid": {
                                    "x_type": "Steps", "x_values": "1, 2", "y_type": "Sampler",
                                    "y_values": "Euler, DDIM", "z_type": "Nothing", "z_values": ""}})
    result = processor.run(request)
    assert len(result.images) == 5  # the grid, then 4 cells
    cells = sorted((tmp_path / "outputs" / "txt2img-images").rglob("*.png"))
    [grid_file] = (tmp_path / "outputs" / "txt2img-grids").rglob("*.png")
    seen = set()
    for path in cells:
        with Image.open(path) as image:
            params = parse_infotext(image.info["parameters"]).params
        assert params["Seed"] == "5"
        seen.add((params["Steps"], params["Sampler"]))
    assert seen == {("1", "Euler"), ("2", "Euler"), ("1", "DDIM"), ("2", "DDIM")}
    with Image.open(grid_file) as grid:
        assert grid.width > 32 and grid.height > 32
        params = parse_infotext(grid.info["parameters"]).params
    assert params["X Type"] == "Steps" and params["X Values"] == "1, 2" and params["Y Type"] == "Sampler"


def test_bad_axis_values_are_refused_before_the_job_is_queued(manager, samplers, tmp_path):
    processor = Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                          extensions=load_extensions(SHIPPED))
    request = GenerationRequest(prompt="cat", width=16, height=16, steps=1, checkpoint="tiny-a",
                                extra={"script": "X/Y/Z plot", "xyz-grid": {"x_type": "Checkpoint",
                                                                             "x_values": "missing"}})
    with pytest.raises(ValueError, match="Unknown checkpoint 'missing'. Available: tiny-a"):
        processor.check(request)
    assert not (tmp_path / "outputs").exists()
