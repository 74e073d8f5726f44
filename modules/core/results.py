"""What a job gives back and how it is steered while it runs: results, step reports, the per-job control.

Plain data (no torch), so the queue, the API and the UI can hold jobs without loading the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from modules.core.requests import GenerationRequest


@dataclass
class StepInfo:
    step: int  # steps done in this batch
    steps: int
    batch_index: int
    batch_count: int
    preview: Image.Image | None = None

    @property
    def fraction(self) -> float:
        return (self.batch_index * self.steps + self.step) / max(1, self.batch_count * self.steps)


@dataclass
class JobControl:
    """Per-job flags and callbacks. Interrupt stops the job at the next step; skip drops the current batch."""

    interrupt: threading.Event = field(default_factory=threading.Event)
    skip: threading.Event = field(default_factory=threading.Event)
    on_step: Callable[[StepInfo], None] | None = None
    preview_every: int = 0  # 0 = no previews
    # (index in the job, picture, seed, infotext) as soon as each picture is made, so it is saved then and a
    # crash late in a long batch loses only the picture being drawn.
    on_image: Callable[[int, Image.Image, int, str], None] | None = None
    job_id: str = ""  # the queue's job, for listings of who runs what (a Ray worker's current job)


@dataclass
class DetectedMap:
    """A ControlNet unit's preprocessed map, as sd-webui-controlnet returns it after the pictures.

    Kept apart from `images`: a map is shown and returned, never saved to outputs nor indexed in History, and
    it has no infotext or seed of its own."""

    unit: int  # index of the unit among the request's enabled units
    module: str  # the preprocessor that made it
    image: Image.Image


@dataclass
class GenerationResult:
    request: GenerationRequest
    images: list[Image.Image]
    seeds: list[int]
    subseeds: list[int]
    infotexts: list[str]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # filled by whoever saves the images
    detected_maps: list[DetectedMap] = field(default_factory=list)  # ControlNet maps, in the extension's order
    worker: str = ""  # the Ray worker that drew it (service/workers); empty when drawn in-process
    # The memory policy the job ran under, why, fp8 storage, and its peak memory (engine/placement.py).
    memory: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> str:
        return self.infotexts[0] if self.infotexts else ""


class OutOfMemory(RuntimeError):
    """A job that did not fit in memory even after the retry; the message tells the user what to change."""
