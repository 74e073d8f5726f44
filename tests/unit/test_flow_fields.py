"""Forge's Flux field in requests and infotexts: validated, and pasted back from a picture's parameters."""

from __future__ import annotations

import pytest

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, Limits, RequestError
from modules.core.validation import validate


def test_distilled_cfg_scale_in_a_pictures_infotext_is_pasted_back_as_the_request_field():
    parsed = parse_infotext("a red circle\nSteps: 20, Sampler: Euler, CFG scale: 1, Distilled CFG Scale: 6.5, Seed: 3, "
                            "Size: 48x48, Shift: 1")
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["distilled_cfg_scale"] == 6.5


@pytest.mark.parametrize("value, message", [(-1, "between 0 and"), ("lots", "must be a number")])
def test_a_distilled_cfg_scale_out_of_range_or_not_a_number_is_refused(value, message):
    with pytest.raises(RequestError, match=message):
        validate(GenerationRequest(distilled_cfg_scale=value), Limits())


def test_no_distilled_cfg_scale_stays_none_so_the_models_default_applies():
    assert validate(GenerationRequest(), Limits()).distilled_cfg_scale is None
