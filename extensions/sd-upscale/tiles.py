"""Cutting a picture into overlapping tiles and joining them back, with A1111's SD upscale geometry.

Tiles are the request's width x height. Along each side the count is the fewest that cover it with at least
`overlap` pixels shared between neighbours; the spare room is spread evenly, and the last tile sits flush
with the edge. Joining pastes the tiles in reading order; each tile's first `overlap` columns (rows, for the
rows of tiles) fade in over its neighbour with a linear ramp, so a seam is a blend, never a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class TileGrid:
    width: int
    height: int
    tile_w: int
    tile_h: int
    overlap: int
    xs: list[int] = field(default_factory=list)  # left edge of each column of tiles
    ys: list[int] = field(default_factory=list)  # top edge of each row of tiles

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)


def starts(size: int, tile: int, overlap: int) -> list[int]:
    """Where the tiles along one side begin (size >= tile > overlap >= 0)."""
    count = max(1, math.ceil((size - overlap) / (tile - overlap)))
    if count == 1:
        return [0]
    step = (size - tile) / (count - 1)
    return [min(int(i * step), size - tile) for i in range(count)]


def plan(width: int, height: int, tile_w: int, tile_h: int, overlap: int) -> TileGrid:
    if tile_w > width or tile_h > height:
        raise ValueError(f"The upscaled picture is {width}x{height}, smaller than one tile ({tile_w}x{tile_h}): "
                         f"set width and height (the tile size) to at most {width // 8 * 8}x{height // 8 * 8}, or "
                         "raise the scale factor.")
    if not 0 <= overlap < min(tile_w, tile_h):
        raise ValueError(f"The tile overlap must be at least 0 and less than the tile's shorter side "
                         f"({min(tile_w, tile_h)}), but is {overlap}.")
    return TileGrid(width, height, tile_w, tile_h, overlap, starts(width, tile_w, overlap),
                    starts(height, tile_h, overlap))


def split(image: Image.Image, grid: TileGrid) -> list[Image.Image]:
    """The tiles in reading order (row by row, left to right)."""
    return [image.crop((x, y, x + grid.tile_w, y + grid.tile_h)) for y in grid.ys for x in grid.xs]


def _ramp(length: int, across: int, vertical: bool) -> Image.Image:
    """An L mask rising from near 0 to near 255 over `length` pixels: the incoming tile's weight."""
    values = ((np.arange(length, dtype=np.float32) + 0.5) * 255.0 / length).round().astype(np.uint8)
    mask = np.repeat(values[:, None], across, axis=1) if vertical else np.repeat(values[None, :], across, axis=0)
    return Image.fromarray(mask, "L")


def _paste_blended(target: Image.Image, piece: Image.Image, at: int, overlap: int, vertical: bool) -> None:
    """Paste `piece` at offset `at` along one axis; its first `overlap` pixels fade in over what is there."""
    if at == 0 or overlap == 0:
        target.paste(piece, (0, at) if vertical else (at, 0))
        return
    if vertical:
        edge, rest = piece.crop((0, 0, piece.width, overlap)), piece.crop((0, overlap, piece.width, piece.height))
        target.paste(edge, (0, at), mask=_ramp(overlap, piece.width, vertical=True))
        target.paste(rest, (0, at + overlap))
    else:
        edge, rest = piece.crop((0, 0, overlap, piece.height)), piece.crop((overlap, 0, piece.width, piece.height))
        target.paste(edge, (at, 0), mask=_ramp(overlap, piece.height, vertical=False))
        target.paste(rest, (at + overlap, 0))


def join(tiles: list[Image.Image], grid: TileGrid) -> Image.Image:
    """The picture from its tiles (in `split`'s order), seams blended over the overlap."""
    if len(tiles) != grid.count:
        raise ValueError(f"{len(tiles)} tiles for a grid of {grid.count}.")
    out = Image.new("RGB", (grid.width, grid.height))
    columns = len(grid.xs)
    for row, y in enumerate(grid.ys):
        strip = Image.new("RGB", (grid.width, grid.tile_h))
        for col, x in enumerate(grid.xs):
            _paste_blended(strip, tiles[row * columns + col].convert("RGB"), x, grid.overlap, vertical=False)
        _paste_blended(out, strip, y, grid.overlap, vertical=True)
    return out
