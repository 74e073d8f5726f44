"""Every /sdapi/v1, /api/v1 and /controlnet route, fuzzed: whatever a client sends, the answer is never a 500.

The routes and their fields come from the app's own OpenAPI schema, so a new route or field is fuzzed without
touching this file. Each example starts from a small valid request and changes a few fields (or the path and
query) to hostile values: NaN and Infinity, 2^80, lone surrogates, invalid UTF-8, 40,000 brackets, pictures
that lie about their size or inflate their text. Nothing is generated: the job runner is replaced by one that
answers at once, so what is fuzzed is the API, the conversion and the validation before the queue.

FUZZ_EXAMPLES (default 8) sets the examples per route; the test is bounded by it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from modules.core.infotext import pnginfo_for
from tests.api.conftest import basic, make_accounts, make_services

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
PREFIXES = ("/sdapi/v1/", "/api/v1/", "/controlnet/")


# ---------------------------------------------------------------------------------------------- pictures
def _png(image: Image.Image, info: PngInfo | None = None) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def _lying_png(width: int, height: int) -> str:
    """A PNG whose header claims width x height but whose data is a few bytes (decoding fails or explodes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def _inflating_png() -> str:
    info = PngInfo()
    info.add_text("parameters", "a " * 1_500_000, zip=True)  # 3 MB of text in a few KB
    return _png(Image.new("RGB", (8, 8)), info)


SMALL_PNG = _png(Image.new("RGB", (16, 16), (200, 30, 30)))
PICTURES = [
    SMALL_PNG,
    "data:image/png;base64," + SMALL_PNG,
    _png(Image.new("RGBA", (24, 8), (0, 0, 0, 0))),
    _png(Image.new("L", (16, 16), 255)),
    _png(Image.new("RGB", (8, 8)), pnginfo_for("a cat\nNegative prompt: dog\nSteps: 1e999, Seed: NaN, Size: 9x9")),
    _lying_png(8193, 8), _lying_png(8192, 8192), _lying_png(2**31 - 1, 1), _lying_png(1, 1),
    _inflating_png(),
    "", "AAAA", "not base64 at all!", "data:,", "=" * 8, base64.b64encode(b"GIF89a").decode(),
]
pictures = st.sampled_from(PICTURES)

# ---------------------------------------------------------------------------------------------- values
WILD_TEXT = ["", " ", "nan", "NaN", "inf", "-Infinity", "1e999", "-1", "0", "1", "512", "2.5", "9" * 40,
             "\ud800", "a\udfffb", "\x00", "\u202e", "９", "Euler a", "Euler", "DPM++ 2M Karras", "karras", "tiny-a",
             "tiny-a [0123456789]", "None", "Automatic", "Lanczos", "Latent", "none", "canny", "txt2img", "inpaint",
             "Just resize", "../../etc/passwd", "<lora:x:1e999>", "<lora::>", "[" * 40_000, "[a:b:0.5]" * 400,
             "(" * 300 + "[", "a " * 6_000, "ab " * 1_500, "2024-05-06", "9999-12-31", "0001-01-01", "512x512",
             "x", "8x", "{}", "[]", "Steps: 1, Sampler: Euler, Size: 64x64"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(2**80), 2**80), st.sampled_from([2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -0.0, 0.5, 1e-310]),
    st.sampled_from(WILD_TEXT), st.text(max_size=12), pictures)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["image", "args", "enabled", "model", "x", "\ud800"])
                                             | st.text(max_size=6), inner, max_size=3), max_leaves=6)

UNIT = {"enabled": True, "module": "none", "model": "tiny-cn", "image": SMALL_PNG, "weight": 1.0}
UNIT_KEYS = ["enabled", "image", "input_image", "module", "model", "weight", "guidance_start", "guidance_end",
             "control_mode", "resize_mode", "pixel_perfect", "processor_res", "threshold_a", "threshold_b",
             "hr_option", "guessmode"]


@st.composite
def controlnet_scripts(draw: Any) -> dict[str, Any]:
    units = draw(st.lists(st.fixed_dictionaries({}, optional={k: json_values for k in UNIT_KEYS}), max_size=2))
    return {"controlnet": {"args": [{**UNIT, **unit} for unit in units] + draw(st.lists(json_values, max_size=1))}}


FIELD_VALUES: dict[str, Any] = {  # fields whose interesting values are not found by chance
    "init_images": st.lists(pictures, max_size=3) | st.just([SMALL_PNG] * 17),
    "mask": pictures, "image": pictures, "controlnet_input_images": st.lists(pictures, max_size=3),
    "imageList": st.lists(st.fixed_dictionaries({"data": pictures, "name": st.sampled_from(WILD_TEXT)}), max_size=3),
    "alwayson_scripts": controlnet_scripts(),
    "override_settings": st.dictionaries(st.sampled_from(["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"]),
                                         json_values, max_size=2),
    "infotext": st.sampled_from(WILD_TEXT),
}

# A small valid request per route, so the fuzzed fields are checked deep in validation, not refused at the door.
TXT2IMG = {"prompt": "a red square", "steps": 1, "width": 16, "height": 16, "sampler_name": "Euler"}
BASES = {
    "/sdapi/v1/txt2img": TXT2IMG,
    "/api/v1/jobs": TXT2IMG,
    "/sdapi/v1/img2img": {**TXT2IMG, "init_images": [SMALL_PNG], "denoising_strength": 0.5},
    "/sdapi/v1/extra-single-image": {"image": SMALL_PNG, "upscaler_1": "Lanczos", "upscaling_resize": 2},
    "/sdapi/v1/extra-batch-images": {"imageList": [{"data": SMALL_PNG, "name": "a.png"}], "upscaler_1": "Lanczos"},
    "/sdapi/v1/png-info": {"image": PICTURES[4]},
    "/sdapi/v1/options": {"CLIP_stop_at_last_layers": 2},
    "/controlnet/detect": {"controlnet_module": "none", "controlnet_input_images": [SMALL_PNG],
                           "controlnet_processor_res": 64},
}
# Keys the plain-dict bodies read (their schema lists none).
DICT_KEYS = {"/sdapi/v1/options": ["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
             "/controlnet/detect": ["controlnet_module", "controlnet_input_images", "controlnet_processor_res",
                                    "controlnet_threshold_a", "controlnet_threshold_b"]}


# ---------------------------------------------------------------------------------------------- the app
def _no_generation(request: Any, control: Any, owner: str) -> Any:
    """The job runner, without the engine: an empty result at once."""
    from modules.core.results import GenerationResult
    from modules.engine.extras import ExtrasRequest, ExtrasResult

    if isinstance(request, ExtrasRequest):
        return ExtrasResult(request=request, images=[], infotexts=[], postprocessing=[])
    return GenerationResult(request=request, images=[], seeds=[], subseeds=[], infotexts=[])


@pytest.fixture(scope="module")
def fuzz(tiny_models_dir, tmp_path_factory):
    import torch
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.engine.devices import DeviceConfig

    cpu = DeviceConfig(torch.device("cpu"), torch.float32, "the fuzz test runs on the CPU")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("fuzz"), cpu, per_user_outputs=True)
    services.jobs._runner = _no_generation
    services.jobs.start()
    services.outputs.save(Image.new("RGB", (8, 8)), "txt2img-images", 1,
                          "a fox\nSteps: 1, Sampler: Euler, Seed: 1, Size: 8x8, Model: tiny-a", user="alice")
    with TestClient(build_app(services, make_accounts())) as client:
        yield client, client.app.openapi()
    services.jobs.stop()


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every route under PREFIXES, read from the OpenAPI schema of an app without models."""
    from unittest.mock import MagicMock

    from modules.api.app import build_app

    services = MagicMock()
    services.outputs.root = "/nonexistent"
    services.extensions = None
    schema = build_app(services).openapi()
    return sorted((method.upper(), path) for path, item in schema["paths"].items() if path.startswith(PREFIXES)
                  for method in item if method in ("get", "post", "put", "delete", "patch"))


# ---------------------------------------------------------------------------------------------- requests
def _body_fields(schema: dict[str, Any], operation: dict[str, Any], path: str) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    if ref:
        model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return sorted(model.get("properties", {}))
    return DICT_KEYS.get(path, [])


def _segment(value: Any) -> str:
    if isinstance(value, bytes):
        return "".join(f"%{b:02X}" for b in value)  # raw bytes, possibly invalid UTF-8
    return quote(str(value), safe="", errors="surrogatepass")


path_values = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(WILD_TEXT[:30]), st.text(max_size=8),
                        st.sampled_from([b"\xed\xa0\x80", b"\xff\xfe", b"%", b"\x00"]))
# (URLs stay under the client's length limit: 1,500 words fit, 40,000 brackets do not.)
query_values = st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8), st.booleans(),
                         st.sampled_from([t for t in WILD_TEXT if len(t) < 5_000] + [b"\xed\xa0\x80", b"\xff"]))


@st.composite
def requests_for(draw: Any, schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = schema["paths"][path][method.lower()]
    url = path
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", _segment(draw(path_values)))
    queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    query = draw(st.dictionaries(st.sampled_from(queries), query_values, max_size=3)) if queries else {}
    if query:
        url += "?" + "&".join(f"{quote(k)}={_segment(v)}" for k, v in query.items())
    fields = _body_fields(schema, operation, path)
    if not fields and "requestBody" not in operation:
        return {"method": method, "url": url}
    keys = fields + ["extra_field"]
    changes = draw(st.dictionaries(st.sampled_from(keys), json_values, max_size=3))
    for key in list(changes):
        if key in FIELD_VALUES and draw(st.booleans()):
            changes[key] = draw(FIELD_VALUES[key])
    body: Any = {**BASES.get(path, {}), **changes}
    if draw(st.integers(0, 19)) == 0:  # now and then a body that is not an object at all
        body = draw(json_values)
    text = json.dumps(body, allow_nan=True)  # NaN and Infinity as Python's JSON reader takes them
    return {"method": method, "url": url, "content": text.encode(),
            "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize("method, path", _operations())
def test_no_input_gets_a_500(fuzz, method, path):
    client, schema = fuzz

    # Random on purpose (the next hostile input is found by a run, not by a person); print_blob tells how to replay.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: Any) -> None:
        request = data.draw(requests_for(schema, method, path))
        user = data.draw(st.sampled_from(["alice", "root"]))
        headers = {**basic(user), **request.pop("headers", {})}
        response = client.request(headers=headers, **request)
        event(f"status {response.status_code}")  # pytest --hypothesis-show-statistics shows how deep it went
        assert response.status_code < 500, (request["method"], request["url"], request.get("content", b"")[:300],
                                            response.status_code, response.text[:500])

    check()
