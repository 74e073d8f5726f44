"""What a request may cost before it is queued: prompt size and bracket budget, text that is not UTF-8, the
pictures' number and pixels; and the infotext reader, which must stay linear on hostile text."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from modules.core.infotext import RE_PARAM, find_params, parse_infotext
from modules.core.prompts import _parse_schedule, _render, editing_syntax_count, schedules
from modules.core.requests import GenerationRequest, Limits, RequestError
from modules.core.validation import check_picture_budget, validate


# ---------------------------------------------------------------------------------------------- prompts
def test_a_prompt_over_the_length_limit_is_refused_with_the_limit_and_its_length():
    with pytest.raises(RequestError, match=r"Prompt is 10,001 characters long, over the limit of 10,000"):
        validate(GenerationRequest(prompt="a" * 10_001))
    validate(GenerationRequest(prompt="a" * 10_000))


def test_brackets_count_only_in_prompts_the_editing_grammar_parses():
    assert editing_syntax_count("(masterpiece:1.2), " * 200) == 0  # no '[': never parsed
    assert editing_syntax_count("[a:b:0.5] (c:1.1)") == 7
    assert editing_syntax_count(r"[a] \( \[ \:") == 2  # escapes are text
    assert editing_syntax_count("[a] <lora:name:0.8> <lora:x:1:2>") == 2  # tags are taken out first
    validate(GenerationRequest(prompt="(masterpiece:1.2), " * 200))


@pytest.mark.parametrize("field, label", [("prompt", "Prompt"), ("negative_prompt", "Negative prompt"),
                                          ("hr_prompt", "Hires prompt")])
def test_too_many_brackets_are_refused_in_every_prompt_field(field, label):
    limits = Limits()
    text = "[" * (limits.max_prompt_brackets + 1)
    with pytest.raises(RequestError, match=rf"{label} uses prompt editing .* {limits.max_prompt_brackets + 1} "
                                           rf".* over the limit of {limits.max_prompt_brackets}"):
        validate(GenerationRequest(**{field: text}))
    validate(GenerationRequest(**{field: "[" * limits.max_prompt_brackets}))


def test_a_lone_surrogate_is_refused_with_where_it_is():
    with pytest.raises(RequestError, match=r"Negative prompt holds a lone surrogate \('\\ud800'\) at character 3"):
        validate(GenerationRequest(negative_prompt="ab\ud800"))
    with pytest.raises(RequestError, match="Sampler holds a lone surrogate"):
        validate(GenerationRequest(sampler="Euler\udfff"))
    validate(GenerationRequest(prompt="a cat \U0001f600 猫"))


def test_a_prompt_that_is_not_text_is_refused():
    with pytest.raises(RequestError, match="Hires prompt must be text, got list"):
        validate(GenerationRequest(hr_prompt=["a"]))


prompt_text = st.text(alphabet=st.sampled_from(list("ab :|()]\\1.5-") + ["\n", "é"]), max_size=30)


@settings(max_examples=300, deadline=None, database=None)
@given(prompt_text)
def test_a_prompt_without_an_opening_square_bracket_is_scheduled_as_it_is_without_parsing(text):
    """`schedules` skips the parse without '[': the parse would give the text back unchanged (or fail)."""
    tree = _parse_schedule(text)
    assert tree is None or _render(tree, 1, {}) == text
    assert schedules(text, 10) == [(10, text)]


# ---------------------------------------------------------------------------------------------- infotext
param_line = st.text(alphabet=st.sampled_from(list('ab :,"\\-/.1_\t') + ["\n", "é"]), max_size=40)


@settings(max_examples=500, deadline=None, database=None)
@given(param_line)
def test_find_params_reads_exactly_what_a1111s_regex_reads(line):
    assert find_params(line) == RE_PARAM.findall(line)


@pytest.mark.parametrize("line", ["a " * 500_000, "a." * 500_000, "\t" * 1_000_000 + ".", 'k: "x, ' * 100_000])
def test_reading_a_megabyte_of_hostile_parameters_takes_linear_time(line):
    started = time.monotonic()
    parse_infotext("a prompt\n" + line)
    assert time.monotonic() - started < 10  # the regex alone took hours on the first two


# ---------------------------------------------------------------------------------------------- pictures
def test_the_picture_budget_names_the_count_and_the_pixels():
    limits = Limits(max_input_images=2, max_input_pixels=100)
    with pytest.raises(RequestError, match="has 3 pictures; at most 2"):
        check_picture_budget([(1, 1)] * 3, limits)
    with pytest.raises(RequestError, match=r"hold 128 pixels \(8x8, 8x8\), over the limit of 100"):
        check_picture_budget([(8, 8), (8, 8)], limits)
    check_picture_budget([(10, 10)], limits)


def test_validate_checks_the_budget_before_decoding_any_picture(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (64, 64)).save(path)
    lazy = [Image.open(path), Image.open(path)]  # opened, not decoded
    request = GenerationRequest(mode="img2img", init_images=tuple(lazy), width=64, height=64)
    decoded = []
    load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or load(self))
    with pytest.raises(RequestError, match="pixels"):
        validate(request, Limits(max_input_pixels=64 * 64 + 1))
    assert decoded == []
    validate(request, Limits(max_input_pixels=2 * 64 * 64))
    assert len(decoded) >= 2


break_text = st.lists(st.sampled_from(["BREAK", "B", "x", " ", "\t", "\n", "\u3000", "_", ","]), max_size=12).map("".join)


@settings(max_examples=500, deadline=None, database=None)
@given(break_text)
def test_break_splitting_matches_a1111s_regex(text):
    from modules.core.prompts import _BREAK_SPLIT, _split_breaks

    assert _split_breaks(text) == _BREAK_SPLIT.split(text)


def test_a_prompt_of_10000_spaces_is_weighed_in_linear_time():
    from modules.core.prompts import prompt_hints

    started = time.monotonic()
    prompt_hints(" " * 9_990 + "x BREAK")
    assert time.monotonic() - started < 1
