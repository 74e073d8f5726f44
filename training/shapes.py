"""The procedural picture set the demo models are trained and scored on.

Every picture is one flat shape on a flat background, drawn anti-aliased (4x supersampled, then reduced)
from a seeded random generator, so any sample can be regenerated from its seed and the evaluation can
compare a generated picture with what its caption asked for. Plain PIL and numpy: no torch here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "star")
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 135, 15),
    "yellow": (245, 220, 30),
    "green": (30, 165, 55),
    "blue": (35, 75, 225),
    "purple": (135, 45, 180),
    "pink": (250, 135, 195),
    "white": (245, 245, 245),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "gray": (125, 125, 125),
    "blue": (35, 75, 225),
    "green": (30, 165, 55),
    "yellow": (245, 220, 30),
}
# Centres as fractions of the side; the jitter keeps "left" a region, not a pixel.
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.28, 0.5),
    "right": (0.72, 0.5),
    "top": (0.5, 0.28),
    "bottom": (0.5, 0.72),
    "center": (0.5, 0.5),
}
# Half-extent of the shape as a fraction of the side.
SIZES: dict[str, float] = {"small": 0.14, "large": 0.25}
JITTER = 0.03
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    position: str
    size: str

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.shape, self.colour, self.background, self.position, self.size)

    def caption(self) -> str:
        """The full caption; `partial_caption` leaves parts out."""
        return partial_caption(self, keep=frozenset({"size", "colour", "background", "position"}))


def partial_caption(scene: Scene, keep: frozenset[str]) -> str:
    words = ["a"]
    if "size" in keep:
        words.append(scene.size)
    if "colour" in keep:
        words.append(scene.colour)
    words.append(scene.shape)
    text = " ".join(words)
    if "background" in keep:
        text += f" on a {scene.background} background"
    if "position" in keep:
        text += ", in the center" if scene.position == "center" else f", on the {scene.position}"
    return text


def all_scenes() -> list[Scene]:
    return [
        Scene(shape, colour, background, position, size)
        for shape in SHAPES
        for colour in OBJECT_COLOURS
        for background in BACKGROUND_COLOURS
        for position in POSITIONS
        for size in SIZES
        if colour != background
    ]


def held_out_scenes(count: int = 40, seed: int = 1234) -> list[Scene]:
    """Combinations never shown in training: the evaluation asks for these."""
    scenes = all_scenes()
    rng = random.Random(seed)
    return sorted(rng.sample(scenes, count), key=Scene.key)


def caption_vocabulary() -> list[str]:
    words = {"a", "on", "background", "the", "in"}
    words.update(SHAPES, OBJECT_COLOURS, BACKGROUND_COLOURS, POSITIONS, SIZES)
    return sorted(words)


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        s = r * 0.9  # a square of the same half-extent looks heavier than the circle
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        # Upright equilateral triangle whose bounding box is centred on (cx, cy).
        w = r * 1.1
        return [(cx, cy - r), (cx + w, cy + r), (cx - w, cy + r)]
    if shape == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + r * 0.1 + radius * math.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}")


def shape_mask(shape: str, centre: tuple[float, float], radius: float, size: int) -> Image.Image:
    """Anti-aliased coverage mask (mode L) of one shape; centre and radius in pixels."""
    big = size * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = (centre[0] * SUPERSAMPLE, centre[1] * SUPERSAMPLE, radius * SUPERSAMPLE)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    else:
        draw.polygon(_polygon(shape, cx, cy, r), fill=255)
    return canvas.resize((size, size), Image.Resampling.BOX)


@dataclass(frozen=True)
class Sample:
    scene: Scene
    caption: str
    image: Image.Image  # RGB
    mask: Image.Image  # L, the shape's coverage
    centre: tuple[float, float]
    radius: float


def render(scene: Scene, size: int, rng: random.Random) -> Sample:
    fx, fy = POSITIONS[scene.position]
    cx = (fx + rng.uniform(-JITTER, JITTER)) * size
    cy = (fy + rng.uniform(-JITTER, JITTER)) * size
    radius = SIZES[scene.size] * size * rng.uniform(0.92, 1.08)
    mask = shape_mask(scene.shape, (cx, cy), radius, size)
    background = Image.new("RGB", (size, size), BACKGROUND_COLOURS[scene.background])
    foreground = Image.new("RGB", (size, size), OBJECT_COLOURS[scene.colour])
    image = Image.composite(foreground, background, mask)
    return Sample(scene, scene.caption(), image, mask, (cx, cy), radius)


def random_scene(rng: random.Random, exclude: frozenset[tuple] = frozenset()) -> Scene:
    while True:
        scene = Scene(
            rng.choice(SHAPES),
            rng.choice(list(OBJECT_COLOURS)),
            rng.choice(list(BACKGROUND_COLOURS)),
            rng.choice(list(POSITIONS)),
            rng.choice(list(SIZES)),
        )
        if scene.colour != scene.background and scene.key() not in exclude:
            return scene


# Chance of leaving each part out of a training caption, so shorter prompts work too.
DROP = {"size": 0.25, "colour": 0.15, "background": 0.2, "position": 0.25}


def training_sample(seed: int, size: int, exclude: frozenset[tuple] = frozenset()) -> Sample:
    """One training picture with a randomly shortened caption; the same seed gives the same sample."""
    rng = random.Random(seed)
    scene = random_scene(rng, exclude)
    sample = render(scene, size, rng)
    keep = frozenset(part for part, p in DROP.items() if rng.random() >= p)
    return replace(sample, caption=partial_caption(scene, keep))


def scribble(sample: Sample, rng: random.Random, width: int = 2) -> Image.Image:
    """A hand-drawn-looking outline of the shape: white strokes on black, like ControlNet scribbles."""
    size = sample.image.size[0]
    edges = sample.mask.point(lambda v: 255 if v >= 128 else 0).filter(ImageFilter.FIND_EDGES)
    arr = np.asarray(edges) > 0
    ys, xs = np.nonzero(arr)
    out = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(out)
    wobble = max(1.0, size / 64)
    for x, y in zip(xs.tolist(), ys.tolist()):
        dx, dy = rng.uniform(-wobble, wobble), rng.uniform(-wobble, wobble)
        r = width / 2
        draw.ellipse((x + dx - r, y + dy - r, x + dx + r, y + dy + r), fill=255)
    return out.convert("RGB")


def random_mask(size: int, rng: random.Random) -> Image.Image:
    """An inpainting mask: a few rectangles, ellipses or thick strokes (white = repaint)."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.randint(1, 3)):
        x0, y0 = rng.uniform(0, size * 0.7), rng.uniform(0, size * 0.7)
        x1, y1 = x0 + rng.uniform(size * 0.15, size * 0.6), y0 + rng.uniform(size * 0.15, size * 0.6)
        kind = rng.choice(("rect", "ellipse", "stroke"))
        if kind == "rect":
            draw.rectangle((x0, y0, x1, y1), fill=255)
        elif kind == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=255)
        else:
            draw.line((x0, y0, x1, y1), fill=255, width=max(2, size // 8))
    return mask
