"""AUTOMATIC1111's ``parameters`` text: write it, parse it, and carry it in PNG/JPEG/WebP files.

The format is a de facto standard read by Civitai, image browsers and A1111 itself, so writing and
parsing follow A1111's ``create_infotext``/``parse_generation_parameters`` byte for byte where it
matters. Only the standard library and PIL are imported here (see DESIGN.md, rules of direction).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image
from PIL.PngImagePlugin import PngInfo

__all__ = [
    "Infotext",
    "exif_for",
    "format_infotext",
    "image_metadata",
    "parse_infotext",
    "pnginfo_for",
    "read_image_infotext",
]

# A1111's regex, verbatim: other tools parse our text with it, so we must not be more lenient.
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_KEY = re.compile(r"\w[\w \-/]+")
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
NEGATIVE_PREFIX = "Negative prompt:"
# The Dynamic Prompts extension appends these as whole lines *after* the params line; without
# peeling them off, A1111's rule would swallow the params line into the negative prompt.
TRAILER_KEYS = ("Template", "Negative Template")

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
UNICODE_PREFIX = b"UNICODE\x00"
ASCII_PREFIX = b"ASCII\x00\x00\x00"
TIFF_LONG = 4
TIFF_UNDEFINED = 7


@dataclass
class Infotext:
    prompt: str
    negative_prompt: str
    params: dict[str, str] = field(default_factory=dict)


def quote(text: str) -> str:
    """Quote a value as A1111 does, plus the cases where it would not survive a round trip."""
    needs = any(c in text for c in ',:"\n') or text != text.strip()
    return json.dumps(text, ensure_ascii=False) if needs else text


def unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text  # A1111 keeps malformed quoted text as is
    return value if isinstance(value, str) else text


def _format_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))  # CFG 7.0 is written "7" by A1111 UIs
    return str(value)


def _derived_size_key(key: str, params: Mapping[str, object]) -> bool:
    """True for "Size-1"/"Size-2" when "Size" is present: parse_infotext adds them as views of it."""
    base, sep, idx = key.rpartition("-")
    return bool(sep) and idx in ("1", "2") and RE_IMAGESIZE.match(str(params.get(base, ""))) is not None


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    parts = []
    for key, value in params.items():
        if value is None or _derived_size_key(key, params):
            continue
        if not RE_KEY.fullmatch(key):
            raise ValueError(
                f"infotext key {key!r} cannot be parsed back: use letters, digits, spaces, '-', '/' "
                "and start with a letter or digit"
            )
        parts.append(f"{key}: {quote(_format_value(value))}")
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{', '.join(parts)}".strip()


_KEY_TAIL = re.compile(r"[\w \-/]*")
_SPACES = re.compile(r"\s*")
_WORD = re.compile(r"\w")


def find_params(line: str) -> list[tuple[str, str]]:
    """RE_PARAM.findall(line), in linear time.

    The regex alone is quadratic: from every start inside a long run of key characters without a ':' after it,
    `\\w[\\w \\-/]+` scans to the run's end and fails, so a 1 MB PNG text chunk of "a a a ..." held a thread for
    hours. A start fails exactly when the run of key characters it begins is not followed by ':', and then every
    start up to the run's end fails too (they end at the same place), so the scan jumps there. Once a key and
    ':' are found the value always matches, so the regex itself reads every pair that is found."""
    found: list[tuple[str, str]] = []
    pos, end = 0, len(line)
    while pos < end:
        start = _SPACES.match(line, pos).end()  # RE_PARAM's leading \s*
        if start >= end:
            break
        if not _WORD.match(line, start):
            pos = start + 1
            continue
        stop = _KEY_TAIL.match(line, start + 1).end()
        if stop > start + 1 and stop < end and line[stop] == ":":
            match = RE_PARAM.match(line, pos)
            if match is not None:  # always, by the argument above; the regex stays the one definition
                found.append(match.groups())
                pos = match.end()
                continue
        pos = max(stop, pos + 1)
    return found


def _split_trailers(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split off Template lines that follow a real params line; ([], []) trailers if none."""
    for i in range(len(lines) - 2, -1, -1):
        if not lines[i + 1].startswith(TRAILER_KEYS):
            continue
        if len(find_params(lines[i])) >= 3:
            return lines[: i + 1], lines[i + 1 :]
    return lines, []


def _parse_trailers(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    key = ""
    for line in lines:
        # Longest key first so "Negative Template" is not read as a continuation.
        for k in sorted(TRAILER_KEYS, key=len, reverse=True):
            if line.startswith(k + ":"):
                key = k
                out[key] = line[len(k) + 1 :].strip()
                break
        else:
            out[key] += "\n" + line  # a multi-line template continues the previous key
    return out


def parse_infotext(text: str) -> Infotext:
    lines = text.replace("\r\n", "\n").strip().split("\n")
    lines, trailers = _split_trailers(lines)
    *head, lastline = lines
    pairs = find_params(lastline)
    if len(pairs) < 3:
        head.append(lastline)
        lastline, pairs = "", []

    # Accumulated exactly as A1111 does, blank leading lines included, so both sides agree.
    prompt = negative = ""
    in_negative = False
    for line in head:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].strip()
        if in_negative:
            negative += ("\n" if negative else "") + line
        else:
            prompt += ("\n" if prompt else "") + line

    params: dict[str, str] = {}
    for key, value in pairs:
        value = unquote(value)
        params[key] = value
        size = RE_IMAGESIZE.match(value)
        if size:
            params[f"{key}-1"], params[f"{key}-2"] = size.group(1), size.group(2)
    params.update(_parse_trailers(trailers))
    return Infotext(prompt, negative, params)


def _decode_utf16(body: bytes) -> str:
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return body.decode("utf-16")  # a BOM says which end is which
    # A1111 (piexif) writes big-endian, some tools little-endian. Mostly-ASCII text has its zero
    # bytes on the high half of each unit, which tells the two apart.
    zeros_even = body[0::2].count(0)
    zeros_odd = body[1::2].count(0)
    order = ("utf-16-le", "utf-16-be") if zeros_odd > zeros_even else ("utf-16-be", "utf-16-le")
    for encoding in order:
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    return body.decode(order[0], errors="replace")


def decode_user_comment(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    prefix, body = data[:8], data[8:]
    if prefix == UNICODE_PREFIX:
        text = _decode_utf16(body)
    elif prefix == ASCII_PREFIX or prefix == b"\x00" * 8:
        text = body.decode("utf-8", errors="replace")
    else:
        # No (or an unknown) prefix: A1111 falls back to utf-8 of the whole field.
        text = data.decode("utf-8", errors="replace")
    return text.rstrip("\x00")


def _exif_user_comment(image: Image.Image) -> str | None:
    try:
        exif_ifd = image.getexif().get_ifd(EXIF_IFD)
    except (OSError, SyntaxError, ValueError):
        return None  # broken EXIF must not stop the image from opening in the UI
    raw = exif_ifd.get(USER_COMMENT)
    if raw is None:
        return None
    return decode_user_comment(raw) or None


def _text_chunks(image: Image.Image) -> dict[str, str]:
    # PngImageFile.text also reads text chunks placed after the image data, which .info misses.
    chunks: dict[str, str] = {}
    for source in (image.info, getattr(image, "text", None) or {}):
        for key, value in source.items():
            if isinstance(key, str) and isinstance(value, str):
                chunks[key] = value
    return chunks


def read_image_infotext(image: Image.Image) -> str | None:
    """The A1111 parameters text of an image, or None (e.g. ComfyUI images carry a node graph)."""
    chunks = _text_chunks(image)
    if chunks.get("parameters"):
        return chunks["parameters"]
    comment = _exif_user_comment(image)
    if comment:
        return comment
    gif_comment = image.info.get("comment")  # GIFs, as A1111 reads them
    if isinstance(gif_comment, bytes):
        gif_comment = gif_comment.decode("utf-8", errors="replace")
    return gif_comment or None


def image_metadata(image: Image.Image) -> dict[str, str]:
    """Every text item of an image, for display (including ComfyUI's prompt/workflow JSON)."""
    meta = _text_chunks(image)
    if "parameters" not in meta:
        infotext = read_image_infotext(image)
        if infotext:
            meta["parameters"] = infotext
    return meta


def pnginfo_for(text: str, extra: Mapping[str, str] | None = None) -> PngInfo:
    info = PngInfo()
    if text:  # a picture with no generation parameters (an upscaled upload) gets no empty chunk
        info.add_text("parameters", text)  # Pillow switches to iTXt for non-latin-1 text
    for key, value in (extra or {}).items():
        info.add_text(key, value)
    return info


def exif_for(text: str) -> bytes:
    """EXIF bytes holding text as a UNICODE UserComment, laid out as A1111 (via piexif) writes it.

    Built by hand because Pillow's Exif writer stores bytes as BYTE, while the EXIF spec (and
    exiftool, Civitai) expect UserComment to be UNDEFINED.
    """
    comment = UNICODE_PREFIX + text.encode("utf-16-be")
    exif_ifd_at = 8 + 2 + 12 + 4  # after the header and IFD0's single entry
    comment_at = exif_ifd_at + 2 + 12 + 4
    header = b"MM\x00\x2a" + struct.pack(">I", 8)
    ifd0 = struct.pack(">HHHII", 1, EXIF_IFD, TIFF_LONG, 1, exif_ifd_at) + struct.pack(">I", 0)
    exif_ifd = struct.pack(">HHHII", 1, USER_COMMENT, TIFF_UNDEFINED, len(comment), comment_at)
    return b"Exif\x00\x00" + header + ifd0 + exif_ifd + struct.pack(">I", 0) + comment
