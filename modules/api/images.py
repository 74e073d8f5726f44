"""Pictures in and out of the API: base64 (bare or data: URI) to PIL, and PIL to base64 PNG with A1111's
`parameters` chunk. Bad input becomes a RequestError that says what to send."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from modules.core.infotext import pnginfo_for
from modules.core.requests import RequestError


def encode_image(image: Image.Image, infotext: str | None = None) -> str:
    """Bare base64 PNG (no data: prefix), carrying the infotext as A1111's `parameters` chunk."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=pnginfo_for(infotext) if infotext else None)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(data: str) -> Image.Image:
    """A base64 picture, bare or as a data: URI; the format is told by the content, not the prefix."""
    text = (data or "").strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if not text:
        raise RequestError("No image was sent: pass it as base64 (bare or as a data: URI).")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise RequestError("The image is not valid base64.") from None
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise RequestError(f"The image could not be read as a picture: {exc}") from None
    return image
