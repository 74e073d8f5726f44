"""A1111 `parameters` text: formatting, parsing and carrying it in image files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from modules.core.infotext import (
    Infotext,
    decode_user_comment,
    exif_for,
    format_infotext,
    image_metadata,
    parse_infotext,
    pnginfo_for,
    read_image_infotext,
)

BRIEF_EXAMPLE = (
    "a photo of a cat, (masterpiece:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "foo: abc123def456, bar: '
    '0123456789ab", Version: v1.10.1'
)

REAL_A1111 = (
    "masterpiece, best quality, 1girl, solo, looking at viewer, <lora:add_detail:0.6>, "
    "<lora:film_grain:0.4>, easynegative\n"
    "Negative prompt: (worst quality, low quality:1.4), EasyNegative, badhandv4\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3188436011, "
    "Size: 512x768, Model hash: 7f96a1a9ca, Model: anything-v5, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.45, Clip skip: 2, "
    "Hires upscale: 2, Hires steps: 15, Hires upscaler: R-ESRGAN 4x+ Anime6B, "
    'Lora hashes: "add_detail: 7c6bad76eb54, film_grain: 2a5b9b1d9f11", '
    'TI hashes: "easynegative: c74b4e810b03, badhandv4: 5e40d722fc3d", Version: v1.9.4'
)


def test_brief_example_parses_to_its_fields() -> None:
    info = parse_infotext(BRIEF_EXAMPLE)
    assert info.prompt == "a photo of a cat, (masterpiece:1.2)"
    assert info.negative_prompt == "blurry, lowres"
    assert info.params["Lora hashes"] == "foo: abc123def456, bar: 0123456789ab"
    assert info.params["Size"] == "512x512"
    assert (info.params["Size-1"], info.params["Size-2"]) == ("512", "512")
    assert info.params["Version"] == "v1.10.1"
    assert list(info.params)[:4] == ["Steps", "Sampler", "Schedule type", "CFG scale"]


def test_format_writes_exactly_what_a1111_writes() -> None:
    params = {
        "Steps": 20,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": 7.0,
        "Seed": 1234,
        "Size": "512x512",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Lora hashes": "foo: abc123def456, bar: 0123456789ab",
        "Hires upscaler": None,
        "Version": "v1.10.1",
    }
    text = format_infotext("a photo of a cat, (masterpiece:1.2)", "blurry, lowres", params)
    assert text == BRIEF_EXAMPLE


def test_values_are_formatted_like_a1111() -> None:
    text = format_infotext("p", "", {"CFG scale": 7.0, "Denoising strength": 0.75, "Steps": 20,
                                     "Tiling": True, "Restore faces": False, "Skipped": None})
    assert text == "p\nCFG scale: 7, Denoising strength: 0.75, Steps: 20, Tiling: True, Restore faces: False"


ROUND_TRIPS = [
    ("simple", "a cat", "a dog", {"Steps": "20", "Sampler": "Euler a", "Seed": "1"}),
    ("no negative", "a cat", "", {"Steps": "20", "Sampler": "Euler a", "Seed": "1"}),
    ("multi-line prompt", "a cat\nBREAK\nin a hat", "blurry\nlowres",
     {"Steps": "20", "Sampler": "Euler", "Seed": "5"}),
    ("blank line in prompt", "first\n\nsecond", "", {"Steps": "1", "Sampler": "DDIM", "Seed": "2"}),
    ("empty prompt", "", "ugly", {"Steps": "20", "Sampler": "Euler", "Seed": "1"}),
    ("quoted values", "x", "y", {
        "Steps": "20",
        "Hires prompt": 'a "quoted" word, with commas: and colons',
        "Backslash": "C:\\models\\a.safetensors",
        "Newline": "line one\nline two",
        "Spaces": "  padded  ",
        "Sampler": "Euler",
    }),
    ("unicode", "一只可爱的猫, 高清, (杰作:1.2), ☃", "模糊, 低质量",
     {"Steps": "30", "Sampler": "Euler a", "Model": "模型-v2", "Seed": "-1"}),
    ("emoji and accents", "café 🐱", "", {"Steps": "1", "Sampler": "LMS", "Note": "naïve, 🐱"}),
]


@pytest.mark.parametrize(("name", "prompt", "negative", "params"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(name: str, prompt: str, negative: str, params: dict[str, str]) -> None:
    text = format_infotext(prompt, negative, params)
    info = parse_infotext(text)
    assert info.prompt == prompt
    assert info.negative_prompt == negative
    assert info.params == params
    assert format_infotext(info.prompt, info.negative_prompt, info.params) == text


def test_real_a1111_text() -> None:
    info = parse_infotext(REAL_A1111)
    assert info.prompt.endswith("<lora:film_grain:0.4>, easynegative")
    assert info.negative_prompt == "(worst quality, low quality:1.4), EasyNegative, badhandv4"
    p = info.params
    assert p["Denoising strength"] == "0.45"
    assert p["Hires upscale"] == "2"
    assert p["Hires steps"] == "15"
    assert p["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert p["Lora hashes"] == "add_detail: 7c6bad76eb54, film_grain: 2a5b9b1d9f11"
    assert p["TI hashes"] == "easynegative: c74b4e810b03, badhandv4: 5e40d722fc3d"
    assert p["VAE"] == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert (p["Size-1"], p["Size-2"]) == ("512", "768")
    assert p["Version"] == "v1.9.4"
    # Re-saving a parsed image must not add the derived Size-1/Size-2 keys.
    assert format_infotext(info.prompt, info.negative_prompt, p) == REAL_A1111


def test_hires_resize_gets_split_too() -> None:
    info = parse_infotext("p\nSteps: 20, Seed: 1, Size: 512x512, Hires resize: 1024x1536")
    assert (info.params["Hires resize-1"], info.params["Hires resize-2"]) == ("1024", "1536")


def test_last_line_with_too_few_pairs_is_prompt() -> None:
    info = parse_infotext("a portrait\nstyle: anime")
    assert info == Infotext("a portrait\nstyle: anime", "", {})
    info = parse_infotext("a portrait\nNegative prompt: bad\nstyle: anime, mood: calm")
    assert info.negative_prompt == "bad\nstyle: anime, mood: calm"
    assert info.params == {}


def test_prompt_lines_with_colons_before_params_stay_in_prompt() -> None:
    text = format_infotext("subject: cat\nstyle: anime", "", {"Steps": 20, "Seed": 3, "Sampler": "Euler"})
    assert parse_infotext(text).prompt == "subject: cat\nstyle: anime"


def test_dynamic_prompts_template_lines_after_params() -> None:
    text = (
        "a red cat\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512\n"
        "Template: a {red|blue} cat\nwith a hat\nNegative Template: blurry"
    )
    info = parse_infotext(text)
    assert info.prompt == "a red cat"
    assert info.negative_prompt == "blurry"
    assert info.params["Steps"] == "20"
    assert info.params["Template"] == "a {red|blue} cat\nwith a hat"
    assert info.params["Negative Template"] == "blurry"


def test_windows_line_endings() -> None:
    info = parse_infotext("a cat\r\nNegative prompt: dog\r\nSteps: 20, Sampler: Euler, Seed: 4\r\n")
    assert (info.prompt, info.negative_prompt, info.params["Seed"]) == ("a cat", "dog", "4")


def test_malformed_quoted_value_is_kept_as_is() -> None:
    info = parse_infotext('p\nSteps: 20, Seed: 1, Odd: "\\q", Sampler: Euler')
    assert info.params["Odd"] == '"\\q"'


def test_unknown_keys_are_kept_as_strings() -> None:
    info = parse_infotext("p\nSteps: 20, ADetailer model: face_yolov8n.pt, ControlNet 0: \"Module: canny\", Seed: 1")
    assert info.params["ADetailer model"] == "face_yolov8n.pt"
    assert info.params["ControlNet 0"] == "Module: canny"


def test_unparseable_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot be parsed back"):
        format_infotext("p", "", {"Bad, key": 1})


# --- image files -------------------------------------------------------------------------------


def _image() -> Image.Image:
    return Image.new("RGB", (16, 16), (200, 30, 30))


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_write_and_read_through_files(tmp_path: Path, fmt: str) -> None:
    text = format_infotext("一只猫, a cat\nin a hat", "blurry", {"Steps": 20, "Lora hashes": "a: 1, b: 2",
                                                                "Seed": 9})
    path = tmp_path / f"image.{fmt}"
    if fmt == "png":
        _image().save(path, pnginfo=pnginfo_for(text, {"extra": "value"}))
    else:
        _image().save(path, exif=exif_for(text))
    with Image.open(path) as image:
        assert read_image_infotext(image) == text
        assert image_metadata(image)["parameters"] == text
        if fmt == "png":
            assert image_metadata(image)["extra"] == "value"


def test_exif_user_comment_is_undefined_big_endian_like_piexif() -> None:
    data = exif_for("hi")
    assert data.startswith(b"Exif\x00\x00MM\x00\x2a")
    # Exif IFD entry: tag 0x9286, type 7 (UNDEFINED), count = 8-byte prefix + 2 UTF-16 units.
    assert struct.pack(">HHI", 0x9286, 7, 12) in data
    assert data.endswith(b"UNICODE\x00\x00h\x00i")


@pytest.mark.parametrize(
    "raw",
    [
        b"UNICODE\x00" + "Steps: 20, 猫".encode("utf-16-be"),
        b"UNICODE\x00" + "Steps: 20, 猫".encode("utf-16-le"),
        b"UNICODE\x00" + "Steps: 20, 猫".encode("utf-16"),  # with BOM
        b"ASCII\x00\x00\x00" + "Steps: 20, 猫".encode(),
        "Steps: 20, 猫".encode(),
    ],
)
def test_decode_user_comment_variants(raw: bytes) -> None:
    assert decode_user_comment(raw) == "Steps: 20, 猫"


def test_little_endian_exif_from_other_tools(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.endian = "<"
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "hello, world".encode("utf-16-le")
    path = tmp_path / "le.jpg"
    _image().save(path, exif=exif)
    with Image.open(path) as image:
        assert read_image_infotext(image) == "hello, world"


def test_comfyui_png_has_no_infotext_but_shows_its_chunks(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("prompt", '{"3": {"class_type": "KSampler"}}')
    info.add_text("workflow", '{"nodes": []}')
    path = tmp_path / "comfy.png"
    _image().save(path, pnginfo=info)
    with Image.open(path) as image:
        assert read_image_infotext(image) is None
        meta = image_metadata(image)
    assert meta == {"prompt": '{"3": {"class_type": "KSampler"}}', "workflow": '{"nodes": []}'}


def test_image_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    _image().save(path)
    with Image.open(path) as image:
        assert read_image_infotext(image) is None
        assert image_metadata(image) == {}
