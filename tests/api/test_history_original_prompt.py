"""History finds a translated picture by the words the user typed and by the words that were drawn."""

from __future__ import annotations

from tests.api.conftest import basic

SMALL = {"width": 16, "height": 16, "steps": 1}


def search(client, words: str, user: str = "alice") -> list[dict]:
    answer = client.get("/api/v1/history", params={"q": words}, headers=basic(user))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_chinese_prompt_is_found_by_its_chinese_and_by_its_english_words(client, services):
    from modules.service.services import start_extensions

    translate = start_extensions(services).get("prompt-translate")
    assert translate is not None and translate.status == "loaded", "the shipped prompt-translate extension"
    made = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                       json={**SMALL, "prompt": "一只猫，星空", "seed": 5,
                             "alwayson_scripts": {"prompt-translate": {"enabled": True}}})
    assert made.status_code == 200, made.text
    assert "Original prompt: 一只猫，星空" in made.json()["info"]
    for words in ("星空", "猫", "一只猫", "starry sky", "cat"):
        found = search(client, words)
        assert [item["seed"] for item in found] == [5], words
    [item] = search(client, "星空 cat")  # one word of each: both prompts are one searchable text
    assert item["prompt"] == "a cat, starry sky"  # the list shows what was drawn
    assert search(client, "狗") == [] and search(client, "dog") == []
    assert search(client, "星空", user="bob") == []
