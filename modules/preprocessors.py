"""ControlNet preprocessors by name: the hook point extensions register into and ControlNet code reads from.

A preprocessor turns a picture into a control picture: `fn(image: PIL.Image, resolution: int, **params) ->
PIL.Image`. `resolution` is the size (in pixels, of the shorter side) the annotator should work at; `params`
are the unit's own knobs (e.g. `low_threshold=100` for Canny). Standard library and PIL only, so the registry
can be built before any model library is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

Preprocessor = Callable[..., Image.Image]


@dataclass(frozen=True)
class PreprocessorSpec:
    name: str
    fn: Preprocessor
    source: str = "built-in"  # which extension registered it, shown in lists and errors


class PreprocessorRegistry:
    """One per app (built in webui.py, passed in). Names are matched case-insensitively."""

    def __init__(self) -> None:
        self._specs: dict[str, PreprocessorSpec] = {}
        self._lock = threading.Lock()

    def register(self, name: str, fn: Preprocessor, source: str = "built-in") -> PreprocessorSpec:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("A preprocessor needs a non-empty name.")
        if not callable(fn):
            raise ValueError(f"Preprocessor {name!r}: expected a function fn(image, resolution, **params) -> image.")
        spec = PreprocessorSpec(name.strip(), fn, source)
        with self._lock:
            taken = self._specs.get(spec.name.casefold())
            if taken is not None:
                raise ValueError(f"Cannot register preprocessor {spec.name!r}: the name is already used "
                                 f"(registered by {taken.source}).")
            self._specs[spec.name.casefold()] = spec
        return spec

    def names(self) -> list[str]:
        return [spec.name for spec in self._specs.values()]

    def get(self, name: str) -> PreprocessorSpec:
        spec = self._specs.get(name.strip().casefold())
        if spec is None:
            raise LookupError(f"Unknown preprocessor {name!r}. Available: {', '.join(self.names()) or 'none'}.")
        return spec

    def run(self, name: str, image: Image.Image, resolution: int, **params: Any) -> Image.Image:
        """Run one preprocessor; a result that is not a picture is an error naming who registered it."""
        spec = self.get(name)
        result = spec.fn(image, int(resolution), **params)
        if not isinstance(result, Image.Image):
            raise TypeError(f"Preprocessor {spec.name!r} ({spec.source}) returned {type(result).__name__}, "
                            "not a PIL image.")
        return result
