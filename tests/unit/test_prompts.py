"""A1111's prompt syntax: its documented examples, malformed input, LoRA tags, and properties of the parser."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modules.core.prompts import (
    LoraTag,
    extract_loras,
    parse_attention,
    prompt_at_step,
    prompt_hints,
    schedules,
)

# ---------------------------------------------------------------------------------------------- attention


@pytest.mark.parametrize(("text", "expected"), [
    # parse_prompt_attention's docstring
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006)]),
    # the wiki's Features page
    ("a man in a ((tuxedo))", [("a man in a ", 1.0), ("tuxedo", 1.2100000000000002)]),
    ("a man in a (tuxedo:1.21)", [("a man in a ", 1.0), ("tuxedo", 1.21)]),
    ("a [red] ball", [("a ", 1.0), ("red", 1 / 1.1), (" ball", 1.0)]),
    ("[[red]]", [("red", 1 / 1.1 / 1.1)]),
    ("unbalanced", [("unbalanced", 1.0)]),
    ("", [("", 1.0)]),
])
def test_attention_matches_a1111(text, expected):
    assert parse_attention(text) == expected


def test_escapes_are_literal_and_a_lone_backslash_is_dropped():
    assert parse_attention(r"\(word\) \[x\] \\") == [("(word) [x] \\", 1.0)]
    assert parse_attention(r"a\b") == [("ab", 1.0)]  # as in A1111


def test_break_is_its_own_run_and_swallows_the_spaces_around_it():
    assert parse_attention("a cat BREAK a dog") == [("a cat", 1.0), ("BREAK", -1.0), ("a dog", 1.0)]
    assert parse_attention("BREAKfast BREAK") == [("BREAKfast", 1.0), ("BREAK", -1.0), ("", 1.0)]


def test_break_inside_brackets_is_a_word_as_in_a1111_and_hinted():
    assert ("BREAK", -1.1) in parse_attention("(a BREAK b)")
    assert any("BREAK inside brackets" in h for h in prompt_hints("(a BREAK b)"))


def test_unbalanced_and_stray_brackets_degrade_like_a1111():
    assert parse_attention("a (b [c") == [("a ", 1.0), ("b ", 1.1), ("c", 1.1 / 1.1)]
    assert parse_attention("a) b]") == [("a) b]", 1.0)]
    assert parse_attention("(a: 1.2)") == [("a: 1.2", 1.1)]  # A1111 reads a spaced weight as text


@pytest.mark.parametrize("text", ["(a:1.2.3)", "(a:.)", "(a:..5)", "(a:+.)", "(x:" + "9" * 400 + ")"])
def test_a_bad_weight_never_raises_reads_as_text_and_is_hinted(text):
    runs = parse_attention(text)  # A1111 raises ValueError on these
    assert len(runs) == 1 and runs[0][1] == 1.1 and runs[0][0].startswith("a:" if text[1] == "a" else "x:")
    assert any("is not a weight" in h for h in prompt_hints(text))


# ---------------------------------------------------------------------------------------------- schedules

A1111_SCHEDULES_AT_10 = [
    # get_learned_conditioning_prompt_schedules' docstring (steps=10)
    ("test", [(10, "test")]),
    ("a [b:3]", [(3, "a "), (10, "a b")]),
    ("a [b: 3]", [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", [(10, "a [unbalanced")]),
    ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
    ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", [(i, "a" if i % 2 else "(b:1.1)") for i in range(1, 11)]),
    ("[fe|]male", [(i, "female" if i % 2 else "male") for i in range(1, 11)]),
    ("[fe|||]male", [(i, "female" if i % 4 == 1 else "male") for i in range(1, 11)]),
    # The docstring claims [(5, 'a  c'), (10, 'a {b|d{ c')] "(not handling this right now)"; A1111's code in
    # fact fails to parse it and uses the prompt as written, and so do we.
    ("a [{b|d{:.5] c", [(10, "a [{b|d{:.5] c")]),
]


@pytest.mark.parametrize(("prompt", "expected"), A1111_SCHEDULES_AT_10)
def test_schedules_match_a1111(prompt, expected):
    assert schedules(prompt, 10) == expected


FANTASY = [
    (25, "fantasy landscape with a mountain and an oak in foreground shoddy"),
    (50, "fantasy landscape with a lake and an oak in foreground in background shoddy"),
    (60, "fantasy landscape with a lake and an oak in foreground in background masterful"),
    (75, "fantasy landscape with a lake and an oak in background masterful"),
    (100, "fantasy landscape with a lake and a christmas tree in background masterful"),
]


@pytest.mark.parametrize("background", ["[: in background:0.25]", "[ in background:0.25]"])
def test_the_documented_fantasy_landscape_at_100_steps(background):
    prompt = ("fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75]"
              f"[ in foreground::0.6]{background} [shoddy:masterful:0.5]")
    assert schedules(prompt, 100) == FANTASY


def test_wiki_prompt_editing_and_alternation():
    assert schedules("a [fantasy:cyberpunk:16] landscape", 30) == [
        (16, "a fantasy landscape"), (30, "a cyberpunk landscape")]
    assert schedules("[cow|horse] in a field", 4) == [
        (1, "cow in a field"), (2, "horse in a field"), (3, "cow in a field"), (4, "horse in a field")]
    assert schedules("a [dog::5] park", 10) == [(5, "a dog park"), (10, "a  park")]


def test_when_below_one_is_a_fraction_and_from_one_a_step():
    assert schedules("[a:b:0.3]", 20) == [(6, "a"), (20, "b")]
    assert schedules("[a:b:7]", 20) == [(7, "a"), (20, "b")]
    assert schedules("[a:b:1.5]", 20) == [(1, "a"), (20, "b")]  # "Old prompt editing timelines"
    assert schedules("[a:b:50]", 20) == [(20, "a")]  # past the end: never switches
    assert schedules("[a:b:0]", 20) == [(20, "b")]


def test_a1111_16_timelines_read_any_decimal_as_a_fraction():
    assert schedules("[a:b:1.0]", 20, decimal_is_fraction=True) == [(20, "a")]
    assert schedules("[a:b:0.25]", 20, decimal_is_fraction=True) == [(5, "a"), (20, "b")]
    assert schedules("[a:b:7]", 20, decimal_is_fraction=True) == [(7, "a"), (20, "b")]


@pytest.mark.parametrize("prompt", ["a | b [c:d:0.5]", "trailing backslash \\", "[a:b:1e999]", "[a:b:-3]"])
def test_odd_schedules_never_raise(prompt):
    result = schedules(prompt, 10)
    assert result[-1][0] == 10


def test_a_parse_failure_uses_the_prompt_as_written_and_is_hinted():
    assert schedules("a | b [c:d:0.5]", 10) == [(10, "a | b [c:d:0.5]")]
    assert any("could not be read" in h for h in prompt_hints("a | b [c:d:0.5]"))


def test_prompt_at_step_uses_a1111s_zero_based_lookup():
    schedule = [(3, "a"), (10, "b")]
    assert [prompt_at_step(schedule, s) for s in range(10)] == ["a"] * 4 + ["b"] * 6


# ---------------------------------------------------------------------------------------------- LoRA tags


def test_lora_tags_are_taken_out_with_their_weights():
    text, loras, warnings = extract_loras("a cat <lora:pixel art:0.7>, sitting <lora:detail:0.5:1.2> <lora:plain>")
    assert text == "a cat , sitting  "
    assert loras == [LoraTag("pixel art", 0.7, 0.7), LoraTag("detail", 0.5, 1.2), LoraTag("plain", 1.0, 1.0)]
    assert warnings == []


def test_lora_named_weights_and_lyco_alias():
    _, loras, _ = extract_loras("<lyco:a:te=0.25:unet=0.5> <lora:b:0.3:unet=0.9> <LORA:c:0>")
    assert loras == [LoraTag("a", 0.25, 0.5), LoraTag("b", 0.3, 0.9), LoraTag("c", 0.0, 0.0)]


@pytest.mark.parametrize(("tag", "expected"), [
    ("<lora:x:abc>", LoraTag("x", 1.0, 1.0)),
    ("<lora:x:0.5:zz>", LoraTag("x", 0.5, 0.5)),
    ("<lora:x:nan>", LoraTag("x", 1.0, 1.0)),
])
def test_a_bad_lora_weight_counts_as_one_with_a_warning(tag, expected):
    text, loras, warnings = extract_loras(f"a {tag} b")
    assert (text, loras) == ("a  b", [expected])
    assert len(warnings) == 1 and "not a number" in warnings[0]
    assert warnings[0] in prompt_hints(f"a {tag} b")


def test_other_extra_network_tags_are_removed_with_a_warning_and_nameless_loras_skipped():
    text, loras, warnings = extract_loras("x <hypernet:h:1> <lora::1> y")
    assert text == "x   y" and loras == []
    assert len(warnings) == 2


def test_text_that_only_looks_like_a_tag_stays():
    assert extract_loras("a <b> c <lora> d")[:2] == ("a <b> c <lora> d", [])


# ---------------------------------------------------------------------------------------------- hints


def test_hints_explain_malformed_prompts():
    assert prompt_hints("a (good:1.2) [prompt:editing:0.5] BREAK [a|b]") == []
    hints = prompt_hints("a (b [c")
    assert any("'(' is never closed" in h for h in hints) and any("'[' is never closed" in h for h in hints)
    assert any("closes nothing" in h for h in prompt_hints("oops)"))
    assert any("no spaces around a weight" in h for h in prompt_hints("(cat: 1.2)"))
    assert any("needs a number" in h for h in prompt_hints("[cat:dog:soon]"))
    assert any("AND" in h for h in prompt_hints("a cat AND a dog"))


# ---------------------------------------------------------------------------------------------- properties

SYNTAX = "()[]:|\\<>"
ANY_PROMPT = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(list("ab ,.1") + list(SYNTAX) + ["BREAK", "0.5", ":1.2)", "<lora:", "AND", "\n"]),
             max_size=40).map("".join),
    st.lists(st.sampled_from(["(", ")", "[", "]", ":", "|", "a", " ", "0.5", "2"]), max_size=30).map("".join),
)
PLAIN = st.text(alphabet=st.characters(blacklist_characters=SYNTAX, blacklist_categories=("Cs",)), max_size=120
                ).filter(lambda t: "BREAK" not in t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_PROMPT, st.integers(min_value=1, max_value=60))
def test_the_parser_never_raises_and_schedules_end_at_steps(prompt, steps):
    runs = parse_attention(prompt)
    assert runs and all(isinstance(t, str) and isinstance(w, float) for t, w in runs)
    schedule = schedules(prompt, steps)
    ends = [end for end, _ in schedule]
    assert ends[-1] == steps and ends == sorted(set(ends)) and ends[0] >= 1
    assert all(isinstance(text, str) for _, text in schedule)
    extract_loras(prompt)
    assert isinstance(prompt_hints(prompt), list)


@settings(max_examples=200, deadline=None)
@given(PLAIN, st.integers(min_value=1, max_value=150))
def test_plain_text_round_trips(text, steps):
    assert parse_attention(text) == [(text, 1.0)]
    assert schedules(text, steps) == [(steps, text)]
    assert extract_loras(text) == (text, [], [])


WORD = st.text(alphabet="abcdefghij ", min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(WORD, st.sampled_from(["0.5", "1.3", "2", "0", "-1", ".7"]))
def test_an_explicit_weight_is_the_weight(word, weight):
    assert parse_attention(f"({word}:{weight})") == [(word, float(weight))]


@settings(max_examples=100, deadline=None)
@given(WORD, WORD, st.integers(min_value=1, max_value=50), st.integers(min_value=2, max_value=50))
def test_an_edit_switches_once_at_its_step(before, after, when, steps):
    schedule = schedules(f"[{before}:{after}:{when}]", steps)
    if when >= steps:
        assert schedule == [(steps, before)]
    else:
        assert schedule == [(when, before), (steps, after)]
