"""Dynamic prompts' syntax drawn by modules.core.wildcards (no files: wildcards come from a dict)."""

import pytest

from modules.core.wildcards import WildcardError, combinations, draw, is_dynamic

FILES = {"colors": ["red", "green", "blue"], "animals/cat": ["a {black|white} cat"], "loop": ["__loop__"]}


def lookup(name: str) -> list[str]:
    if name not in FILES:
        raise WildcardError(f"no wildcard {name}")
    return FILES[name]


def test_the_same_seed_draws_the_same_prompt_and_seeds_draw_every_option():
    template = "a {cat|dog|bird} in __colors__"
    assert draw(template, 7, lookup) == draw(template, 7, lookup)
    drawn = {draw(template, seed, lookup) for seed in range(200)}
    assert len(drawn) == 9
    assert all(p.startswith("a ") and p.split(" in ")[1] in FILES["colors"] for p in drawn)


def test_subfolder_wildcards_and_their_own_variants_are_drawn():
    assert draw("__animals/cat__", 1, lookup) in ("a black cat", "a white cat")


def test_counted_variants_draw_distinct_options_joined_by_the_separator():
    for seed in range(30):
        parts = draw("{2$$a|b|c}", seed, lookup).split(", ")
        assert len(parts) == 2 and len(set(parts)) == 2
        assert " and " in draw("{2$$ and $$a|b|c}", seed, lookup)
        assert 1 <= len(draw("{1-3$$a|b|c}", seed, lookup).split(", ")) <= 3
        assert len(draw("{2$$__colors__}", seed, lookup).split(", ")) == 2


def test_weights_favour_an_option():
    drawn = [draw("{9::a|1::b}", seed, lookup) for seed in range(300)]
    assert drawn.count("a") > 200 and "b" in drawn


def test_a1111_alternation_and_escapes_keep_their_meaning():
    assert draw("{[cat|dog]|[cat|dog]}", 3, lookup) == "[cat|dog]"
    assert draw(r"a \{literal\} brace", 3, lookup) == "a {literal} brace"
    assert not is_dynamic("a (red:1.2) [cat|dog] <lora:x_y:0.5> photo")
    assert is_dynamic("{a|b}") and is_dynamic("__colors__")


def test_nested_variants_with_their_own_counts():
    for seed in range(20):
        assert draw("{x|{2$$b|c}}", seed, lookup) in ("x", "b, c", "c, b")


def test_combinatorial_mode_lists_every_prompt_in_order():
    assert combinations("{a|b} __colors__", lookup, 100) == [
        "a red", "a green", "a blue", "b red", "b green", "b blue"]
    assert combinations("{a|b} __colors__", lookup, 4) == ["a red", "a green", "a blue", "b red"]


@pytest.mark.parametrize("template, words", [
    ("a {cat|dog", "never closed"), ("a cat}", "no '{'"), ("__missing__", "missing"),
    ("__loop__", "nest"), ("{3-1$$a|b}", "first number")])
def test_bad_templates_are_refused_with_a_reason(template, words):
    with pytest.raises(WildcardError, match=words):
        draw(template, 1, lookup)
