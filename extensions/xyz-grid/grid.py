"""A labelled grid picture: column labels on top, row labels on the left, an optional title above.

Labels never cover a picture and stay legible at any picture size: the text is at least MIN_FONT px, a label
wraps (at spaces, or between characters for a long word or Chinese) and the band around the pictures grows
to hold it. Small pictures (the demo model draws 48 px) get wider columns, up to LABEL_WIDTH, before their
labels wrap; each picture is centred in its slot. A1111 shrinks the font with the picture instead, which
makes labels unreadable below ~256 px.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = "white"
INK = "black"
MIN_FONT = 12  # px: smaller is hard to read on a grid shown at its own size
LABEL_WIDTH = 160  # px: how wide a column of small pictures may grow for its label before it wraps


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


def font_size(cell_w: int, cell_h: int) -> int:
    return max(MIN_FONT, min(cell_w, cell_h) // 12)


def wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """`text` as lines no wider than `width`: broken at spaces, and inside a word only when it alone is wider."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if _text_size(draw, candidate, font)[0] <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while len(word) > 1 and _text_size(draw, word, font)[0] > width:
                cut = max(1, max((n for n in range(1, len(word)) if _text_size(draw, word[:n], font)[0] <= width),
                                 default=1))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return [line for line in lines if line] or [""]


def _band(draw, labels: list[str], font, pad: int, least: int) -> int:
    """The width of a band of labels: the longest label, or LABEL_WIDTH if longer (it then wraps)."""
    longest = max((_text_size(draw, t, font)[0] for t in labels if t), default=0)
    if not longest:
        return least
    return max(least, min(longest + 2 * pad, max(LABEL_WIDTH, least)))


def _draw_lines(draw, lines: list[str], font, x: int, width: int, y: int, line_h: int, centred: bool) -> None:
    for i, line in enumerate(lines):
        w = _text_size(draw, line, font)[0]
        draw.text((x + ((width - w) // 2 if centred else 0), y + i * line_h), line, fill=INK, font=font)


def draw_grid(rows: list[list[Image.Image | None]], column_labels: list[str], row_labels: list[str],
              title: str = "") -> Image.Image:
    """rows[r][c] is the picture of row r, column c (None: not made, e.g. interrupted)."""
    pictures = [p for row in rows for p in row if p is not None]
    cell_w = max((p.width for p in pictures), default=64)
    cell_h = max((p.height for p in pictures), default=64)
    font = _font(font_size(cell_w, cell_h))
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = max(4, font_size(cell_w, cell_h) // 2)
    line_h = _text_size(draw, "ÁgjyX", font)[1] + max(2, pad // 2)
    columns = max(len(row) for row in rows)
    col_w = _band(draw, column_labels, font, pad, cell_w)
    col_lines = [wrap(draw, t, font, col_w - 2 * pad) if t else [] for t in column_labels]
    top = max((len(lines) for lines in col_lines), default=0) * line_h
    top = top + 2 * pad if top else 0
    left = _band(draw, row_labels, font, pad, 0)
    row_lines = [wrap(draw, t, font, left - 2 * pad) if t else [] for t in row_labels]
    row_h = [max(cell_h, len(row_lines[r]) * line_h + 2 * pad if r < len(row_lines) and row_lines[r] else 0)
             for r in range(len(rows))]
    width = left + columns * col_w
    title_lines = wrap(draw, title, font, max(width, LABEL_WIDTH) - 2 * pad) if title else []
    width = max(width, max((_text_size(draw, t, font)[0] for t in title_lines), default=0) + 2 * pad)
    title_h = len(title_lines) * line_h + 2 * pad if title_lines else 0
    canvas = Image.new("RGB", (width, title_h + top + sum(row_h)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    _draw_lines(draw, title_lines, font, pad, width - 2 * pad, pad, line_h, centred=False)
    for c, lines in enumerate(col_lines):
        _draw_lines(draw, lines, font, left + c * col_w, col_w, title_h + pad, line_h, centred=True)
    y = title_h + top
    for r, row in enumerate(rows):
        if r < len(row_lines) and row_lines[r]:
            text_h = len(row_lines[r]) * line_h
            _draw_lines(draw, row_lines[r], font, pad, left - 2 * pad, y + (row_h[r] - text_h) // 2, line_h, False)
        for c, picture in enumerate(row):
            if picture is not None:
                x = left + c * col_w + (col_w - picture.width) // 2
                canvas.paste(picture.convert("RGB"), (x, y + (row_h[r] - picture.height) // 2))
        y += row_h[r]
    return canvas
