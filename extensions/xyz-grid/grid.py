"""A labelled grid picture: column labels on top, row labels on the left, an optional title above."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = "white"
INK = "black"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def draw_grid(rows: list[list[Image.Image | None]], column_labels: list[str], row_labels: list[str],
              title: str = "") -> Image.Image:
    """rows[r][c] is the picture of row r, column c (None: not made, e.g. interrupted)."""
    pictures = [p for row in rows for p in row if p is not None]
    cell_w = max((p.width for p in pictures), default=64)
    cell_h = max((p.height for p in pictures), default=64)
    font = _font(max(12, min(cell_w, cell_h) // 12))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = max(4, font.size // 2 if hasattr(font, "size") else 4)
    left = max((_text_size(measure, t, font)[0] for t in row_labels), default=0)
    left = left + 2 * pad if left else 0
    label_h = max((_text_size(measure, t, font)[1] for t in [*column_labels, title]), default=0)
    top = (label_h + 2 * pad) if any(column_labels) else 0
    title_h = (label_h + 2 * pad) if title else 0
    columns = max(len(row) for row in rows)
    width = max(left + columns * cell_w, _text_size(measure, title, font)[0] + 2 * pad)
    canvas = Image.new("RGB", (width, title_h + top + len(rows) * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill=INK, font=font)
    for c, text in enumerate(column_labels):
        w, _ = _text_size(draw, text, font)
        draw.text((left + c * cell_w + (cell_w - w) // 2, title_h + pad), text, fill=INK, font=font)
    for r, row in enumerate(rows):
        y = title_h + top + r * cell_h
        if r < len(row_labels) and row_labels[r]:
            _, h = _text_size(draw, row_labels[r], font)
            draw.text((pad, y + (cell_h - h) // 2), row_labels[r], fill=INK, font=font)
        for c, picture in enumerate(row):
            if picture is not None:
                canvas.paste(picture.convert("RGB"), (left + c * cell_w, y))
    return canvas
