"""A hook that fails on one request's values fails that request, never the extension for everyone
(`alwayson_scripts: {"styles": {"styles": 5}}` once disabled the styles extension until a restart)."""

from __future__ import annotations

import pytest

from modules.extension_api import GenerationRequest
from modules.service.extensions import LOADED, ExtensionHost, ExtensionValueError
from tests.extensions.conftest import load_shipped


def test_bad_values_fail_the_request_and_the_extension_stays_on(settings_store):
    host = ExtensionHost([load_shipped("styles", store=settings_store)])
    with pytest.raises(ExtensionValueError, match=r"styles extension could not use the values sent"):
        host.before_generate(GenerationRequest(prompt="cat", extra={"styles": {"styles": 5}}))
    ext = host.get("styles")
    assert ext.status == LOADED and ext.active
    # The next user's request is served as before.
    assert host.before_generate(GenerationRequest(prompt="cat")).prompt == "cat"
