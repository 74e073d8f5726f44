"""Wildcards through the runner on the tiny model: each picture draws its own prompt from its own seed, the
infotext keeps the prompt drawn and the template, and a missing wildcard file is refused by name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.service.outputs import OutputStore
from modules.service.runner import Processor
from modules.service.wildcards import WildcardFiles

BASE = GenerationRequest(prompt="a __shapes/kind__ in {red|green|blue|black|white}", width=16, height=16, steps=2,
                         seed=1000, sampler="Euler", checkpoint="tiny-a")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "wildcards"
    (root / "shapes").mkdir(parents=True)
    (root / "shapes" / "kind.txt").write_text("# shapes the demo model knows\n\ncircle\nsquare\n  triangle  \n")
    (root / "moods.yaml").write_text("moods:\n  calm: [quiet, still]\n")
    return root


@pytest.fixture
def processor(manager, samplers, tmp_path, folder):
    return Processor(models=manager, samplers=samplers, outputs=OutputStore(tmp_path / "outputs"),
                     wildcards=WildcardFiles(folder))


def test_each_picture_of_a_batch_draws_its_own_prompt_and_reproduces_alone(processor):
    result = processor.run(replace(BASE, batch_size=2, batch_count=3))
    assert result.seeds == list(range(1000, 1006)) and len(result.images) == 6
    prompts = [parse_infotext(info).prompt for info in result.infotexts]
    assert len(set(prompts)) > 1
    for prompt in prompts:
        kind, colour = prompt.removeprefix("a ").split(" in ")
        assert kind in ("circle", "square", "triangle") and colour in ("red", "green", "blue", "black", "white")
    parsed = parse_infotext(result.infotexts[3])
    assert parsed.params["Template"] == BASE.prompt and parsed.params["Seed"] == "1003"
    alone = processor.run(replace(BASE, seed=1003))
    assert parse_infotext(alone.info).prompt == prompts[3]
    assert alone.images[0].tobytes() == result.images[3].tobytes()
    assert len(result.paths) == 6


def test_a_prompt_without_templates_is_untouched(processor):
    result = processor.run(replace(BASE, prompt="a [circle|square] __ok", batch_size=2))
    assert all(parse_infotext(i).prompt == "a [circle|square] __ok" for i in result.infotexts)
    assert "Template" not in parse_infotext(result.info).params


def test_yaml_keys_and_the_negative_prompt_are_drawn(processor):
    result = processor.run(replace(BASE, prompt="__moods/calm__ sea", negative_prompt="{blurry|noisy}"))
    parsed = parse_infotext(result.info)
    assert parsed.prompt in ("quiet sea", "still sea") and parsed.negative_prompt in ("blurry", "noisy")
    assert parsed.params["Negative Template"] == "{blurry|noisy}"


def test_combinatorial_mode_gives_every_prompt_in_turn(processor):
    request = replace(BASE, prompt="a {circle|square}", batch_size=3,
                      extra={"dynamic prompts v2.17.1": {"args": [True, True]}})
    prompts = [parse_infotext(i).prompt for i in processor.run(request).infotexts]
    assert prompts == ["a circle", "a square", "a circle"]


def test_turned_off_the_braces_reach_the_prompt_as_written(processor):
    request = replace(BASE, prompt="a {circle|square}", extra={"wildcards": {"enabled": False}})
    assert parse_infotext(processor.run(request).info).prompt == "a {circle|square}"


def test_a_missing_wildcard_file_is_refused_before_the_job_runs_naming_it(processor, folder):
    with pytest.raises(RequestError, match=r"__shapes/kinds__.*kinds\.txt.*Did you mean __shapes/kind__"):
        processor.check(replace(BASE, prompt="a __shapes/kinds__"))
