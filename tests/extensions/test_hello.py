"""hello: the template loads, greets through its route and signs the infotext when asked."""

from __future__ import annotations

from modules.extension_api import GenerationRequest
from tests.extensions.conftest import load_shipped


class FakeResult:
    def __init__(self) -> None:
        self.request = GenerationRequest()
        self.infotexts = ["a cat\nSteps: 2, Seed: 1"]


def test_hello_loads_with_its_metadata_and_contributions(settings_store):
    ext = load_shipped("hello", settings_store)
    assert ext.metadata["name"] == "Hello" and ext.api_version == 1
    contributions = ext.api.contributions
    assert [t.title for t in contributions.tabs] == ["Hello"]
    assert [r.path for r in contributions.routes] == ["/greet"]


def test_hello_route_uses_the_greeting_setting(settings_store):
    ext = load_shipped("hello", settings_store)
    route = ext.api.contributions.routes[0]
    assert route.endpoint(name="Ada") == {"greeting": "Hello, Ada!"}
    ext.api.settings.update({"greeting": "Bonjour {name}"})
    assert route.endpoint(name="Ada") == {"greeting": "Bonjour Ada"}


def test_hello_signs_the_infotext_only_when_enabled(settings_store):
    ext = load_shipped("hello", settings_store)
    [sign] = ext.api.contributions.hooks["after_generate"]
    result = FakeResult()
    sign(result)
    assert result.infotexts == ["a cat\nSteps: 2, Seed: 1"]
    ext.api.settings.update({"sign_infotext": True})
    sign(result)
    assert result.infotexts == ["a cat\nSteps: 2, Seed: 1, Hello: yes"]
