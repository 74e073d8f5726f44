"""The engine asks a model manager only for what `ModelSource` names; the manager and the test double both
offer all of it (a double missing a method would pass the tests that skip it and hide a real break)."""

from __future__ import annotations

import inspect

from modules.engine.models.manager import ModelManager
from modules.engine.models.source import ModelSource
from tests.core.conftest import InMemoryModels

MEMBERS = sorted(name for name, value in vars(ModelSource).items()
                 if not name.startswith("_") and inspect.isfunction(value))


def test_the_protocol_names_what_generation_uses():
    assert {"use", "resolve", "find_lora", "lora_hash", "use_embeddings", "controlnet", "find_controlnet"} <= set(MEMBERS)


def test_the_model_manager_and_the_double_offer_every_member_with_the_same_parameters():
    for cls in (ModelManager, InMemoryModels):
        missing = [name for name in MEMBERS if not callable(getattr(cls, name, None))]
        assert missing == [], f"{cls.__name__} lacks {missing}"
    for name in MEMBERS:
        wanted = list(inspect.signature(getattr(ModelSource, name)).parameters)
        assert list(inspect.signature(getattr(ModelManager, name)).parameters) == wanted, name
