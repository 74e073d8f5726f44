"""The request's "VAE / Text encoder" files (Forge's forge_additional_modules): checked in core, written to the
infotext as Forge does, and read back by PNG Info."""

from __future__ import annotations

import pytest

from modules.core.infotext import format_infotext, parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate


def test_names_and_forge_paths_are_accepted_as_given():
    request = validate(GenerationRequest(additional_modules=(
        "ae.safetensors", "/stable-diffusion-webui/models/text_encoder/clip_l.safetensors",
        "C:\\forge\\models\\text_encoder\\t5xxl_fp16.safetensors")))
    assert request.additional_modules[0] == "ae.safetensors" and len(request.additional_modules) == 3
    from modules.core.additional_modules import file_name

    assert [file_name(m) for m in request.additional_modules] == ["ae.safetensors", "clip_l.safetensors",
                                                                  "t5xxl_fp16.safetensors"]


@pytest.mark.parametrize("modules, message", [
    (("ae.safetensors", "/other/place/ae.safetensors"), "names ae.safetensors twice"),
    (("",), "entry 1 must be a file name"),
    ((3,), "entry 1 must be a file name"),
    (tuple(f"m{i}.safetensors" for i in range(9)), "at most a VAE and three text encoders"),
])
def test_a_module_list_that_cannot_be_a_choice_is_refused_with_the_reason(modules, message):
    with pytest.raises(RequestError, match=message):
        validate(GenerationRequest(additional_modules=modules))


def test_the_modules_written_in_the_infotext_come_back_in_their_order():
    from modules.core.additional_modules import infotext_params

    params = {"Steps": 4, "Seed": 1, **infotext_params(["x/clip_l.safetensors", "t5xxl_fp16.safetensors",
                                                        "ae.safetensors"])}
    text = format_infotext("a cat", "", params)
    assert "Module 1: clip_l.safetensors, Module 2: t5xxl_fp16.safetensors, Module 3: ae.safetensors" in text
    parsed = parse_infotext(text)
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["additional_modules"] == ("clip_l.safetensors", "t5xxl_fp16.safetensors", "ae.safetensors")
