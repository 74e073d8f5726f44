"""Dynamic prompts' syntax drawn through the `dynamicprompts` library by modules.service.wildcards, over a
wildcards folder of text and YAML files."""

import pytest

from modules.service.wildcards import WildcardError, WildcardFiles, is_dynamic


@pytest.fixture
def files(tmp_path) -> WildcardFiles:
    (tmp_path / "animals").mkdir()
    (tmp_path / "colors.txt").write_text("# primary\nred\n\ngreen\nblue\n")
    (tmp_path / "animals" / "cat.txt").write_text("a {black|white} cat\n")
    (tmp_path / "loop.txt").write_text("__loop__\n")
    (tmp_path / "moods.yaml").write_text("moods:\n  calm: [quiet, still]\n")
    return WildcardFiles(tmp_path)


def test_the_same_seed_draws_the_same_prompt_and_seeds_draw_every_option(files):
    template = "a {cat|dog|bird} in __colors__"
    assert files.draw(template, 7) == files.draw(template, 7)
    drawn = {files.draw(template, seed) for seed in range(200)}
    assert len(drawn) == 9
    assert all(p.startswith("a ") and p.split(" in ")[1] in ("red", "green", "blue") for p in drawn)


def test_subfolder_and_yaml_wildcards_and_their_own_variants_are_drawn(files):
    assert files.draw("__animals/cat__", 1) in ("a black cat", "a white cat")
    assert files.draw("__moods/calm__ sea", 1) in ("quiet sea", "still sea")
    assert files.draw("__anim*/cat__", 2) in ("a black cat", "a white cat")


def test_counted_variants_draw_distinct_options_joined_by_the_separator(files):
    for seed in range(30):
        parts = files.draw("{2$$a|b|c}", seed).split(",")  # joined by "," as the Dynamic Prompts extension does
        assert len(parts) == 2 and len(set(parts)) == 2
        assert " and " in files.draw("{2$$ and $$a|b|c}", seed)
        assert 1 <= len(files.draw("{1-3$$a|b|c}", seed).split(",")) <= 3
        assert len(set(files.draw("{2$$__colors__}", seed).split(","))) == 2


def test_weights_favour_an_option(files):
    drawn = [files.draw("{9::a|1::b}", seed) for seed in range(300)]
    assert drawn.count("a") > 200 and "b" in drawn


def test_a1111_alternation_and_escapes_keep_their_meaning(files):
    assert files.draw("{[cat|dog]|[cat|dog]}", 3) == "[cat|dog]"
    assert files.draw(r"a \{literal\} brace and \_\_x\_\_", 3) == "a {literal} brace and __x__"
    assert not is_dynamic("a (red:1.2) [cat|dog] <lora:x_y:0.5> photo")
    assert is_dynamic("{a|b}") and is_dynamic("__colors__")


def test_nested_variants_with_their_own_counts(files):
    for seed in range(20):
        assert files.draw("{x|{2$$b|c}}", seed) in ("x", "b,c", "c,b")


def test_combinatorial_mode_lists_every_prompt_in_file_order(files):
    assert files.combinations("{a|b} __colors__", 100) == ["a red", "a green", "a blue", "b red", "b green",
                                                          "b blue"]
    assert files.combinations("{a|b} __colors__", 4) == ["a red", "a green", "a blue", "b red"]


@pytest.mark.parametrize("template, words", [
    ("a {cat|dog", "never closed"), ("a cat}", "no '{'"), ("__missing__", "missing.txt"),
    ("__colours__", "Did you mean __colors__"), ("__loop__", "nest"), ("{3-1$$a|b}", "first number"),
    ("__../secret__", "outside the wildcards folder")])
def test_bad_templates_are_refused_with_a_reason(files, template, words):
    with pytest.raises(WildcardError, match=words):
        files.draw(template, 1)
