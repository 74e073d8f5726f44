"""prompt-translate: Chinese tags become English, A1111 syntax survives, and both prompts reach the infotext."""

from __future__ import annotations


import pytest

from modules.core.infotext import parse_infotext
from modules.extension_api import GenerationRequest
from tests.extensions.conftest import SHIPPED, load_shipped, shipped_module


@pytest.fixture(scope="module")
def translator():
    module = shipped_module("prompt-translate", "translate")
    return module.Translator(module.load_glossary(SHIPPED / "prompt-translate" / "glossary.txt"))


def test_the_glossary_is_large_and_well_formed():
    module = shipped_module("prompt-translate", "translate")
    glossary = module.load_glossary(SHIPPED / "prompt-translate" / "glossary.txt")
    assert len(glossary) >= 2000
    assert all(module.has_chinese(key) for key in glossary)
    for word in ("杰作", "红色", "赛博朋克", "体积光", "广角", "樱花", "猫耳"):
        assert glossary[word], word


def test_a_chinese_tag_list_becomes_english(translator):
    done = translator.translate("杰作，最佳质量，一个女孩，红色头发，蓝色眼睛，樱花，体积光，广角")
    assert done.text == ("masterpiece, best quality, 1girl, red hair, blue eyes, cherry blossoms, "
                         "volumetric lighting, wide angle")
    assert done.untranslated == []


def test_weights_lora_tags_and_english_are_kept(translator):
    done = translator.translate("(红色头发:1.2), <lora:古风人物:0.8>, [猫:狗:10], masterpiece, （金色:0.9）")
    assert done.text == "(red hair:1.2), <lora:古风人物:0.8>, [cat:dog:10], masterpiece, (gold:0.9)"


def test_mixed_entries_and_spacing_next_to_latin_words(translator):
    assert translator.translate("白色T恤").text == "white t-shirt"
    assert translator.translate("1girl穿着汉服").text == "1girl wearing hanfu"


def test_unknown_characters_are_kept_and_reported(translator):
    done = translator.translate("红色的龘靐")
    assert done.text == "red 龘靐"
    assert done.untranslated == ["龘靐"]


def test_english_prompts_are_left_alone(translator):
    assert translator.translate("a red circle, (blue:1.2)").text == ""


def test_hooks_translate_and_record_both_prompts(settings_store):
    ext = load_shipped("prompt-translate", settings_store)
    [before] = ext.api.contributions.hooks["before_generate"]
    [after] = ext.api.contributions.hooks["after_generate"]
    request = GenerationRequest(prompt="一只猫，星空", negative_prompt="模糊，水印")
    changed = before(request)
    assert changed.prompt == "a cat, starry sky" and changed.negative_prompt == "blurry, watermark"

    class Result:
        def __init__(self, req):
            self.request, self.warnings = req, []
            self.infotexts = [f"{req.prompt}\nNegative prompt: {req.negative_prompt}\nSteps: 2, Seed: 3"]

    result = Result(changed)
    after(result)
    parsed = parse_infotext(result.infotexts[0])
    assert parsed.prompt == "a cat, starry sky"
    assert parsed.params["Original prompt"] == "一只猫，星空"
    assert parsed.params["Original negative prompt"] == "模糊，水印"
    assert result.warnings == []


def test_translation_can_be_turned_off_per_request_or_by_default(settings_store):
    ext = load_shipped("prompt-translate", settings_store)
    [before] = ext.api.contributions.hooks["before_generate"]
    assert before(GenerationRequest(prompt="猫", extra={"prompt-translate": {"enabled": False}})) is None
    ext.api.settings.update({"translate_by_default": False})
    assert before(GenerationRequest(prompt="猫")) is None
    assert before(GenerationRequest(prompt="猫", extra={"prompt-translate": {"enabled": True}})).prompt == "cat"


def test_the_translate_route(settings_store):
    ext = load_shipped("prompt-translate", settings_store)
    [route] = ext.api.contributions.routes
    assert route.endpoint(text="黑猫，月光") == {"text": "black cat, moonlight", "untranslated": []}
