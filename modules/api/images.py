"""Pictures in and out of the API: base64 (bare or data: URI) to PIL, and PIL to base64 PNG with A1111's
`parameters` chunk. Bad input becomes a RequestError that says what to send."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from modules.core.infotext import pnginfo_for
from modules.core.requests import Limits, RequestError
from modules.core.validation import check_picture_size


def encode_image(image: Image.Image, infotext: str | None = None) -> str:
    """Bare base64 PNG (no data: prefix), carrying the infotext as A1111's `parameters` chunk."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=pnginfo_for(infotext) if infotext else None)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(data: str | None, what: str = "The image", limits: Limits = Limits(), *, load: bool = True) -> Image.Image:
    """A base64 picture, bare or as a data: URI; the format is told by the content, not the prefix.

    The size is read from the header and checked against `limits` before any pixel is decoded (PIL opens
    lazily). `load=False` leaves the decoding to `validate`, which first checks all the request's pictures
    together; PIL's own bounds (PngImagePlugin.MAX_TEXT_CHUNK, MAX_IMAGE_PIXELS) refuse inflating text chunks
    and decompression bombs."""
    if data is not None and not isinstance(data, str):
        raise RequestError(f"{what} must be a base64 string (bare or as a data: URI), got {type(data).__name__}.")
    text = (data or "").strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if not text:
        raise RequestError(f"{what} is empty: send the picture as base64 (bare or as a data: URI).")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise RequestError(f"{what} is not valid base64.") from None
    try:
        image = Image.open(io.BytesIO(raw))
        check_picture_size(what, image.size, limits)
        if load:
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        if isinstance(exc, RequestError):
            raise
        if "MAX_TEXT_CHUNK" in str(exc) or "MAX_TEXT_MEMORY" in str(exc):
            raise RequestError(f"{what} holds text metadata that inflates past PIL's bound ({exc}). Send the picture "
                               "with its text chunks removed (e.g. re-save it without metadata).") from None
        reason = "its format is not one PIL reads" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise RequestError(f"{what} could not be read as a picture: {reason}. Send a complete PNG, JPEG or WebP "
                           "file.") from None
    return image
