"""Textual-inversion embeddings in models/embeddings: used when their file name appears in a prompt.

Files are read here, safely (safetensors, or pickles with `weights_only=True`), in the layouts users have:
A1111's `.pt` (`string_to_param`), `.safetensors` with `emb_params`, SDXL's `clip_l`/`clip_g`, and diffusers'
`{token: vector}`. The vectors are handed to diffusers' `load_textual_inversion`, which adds the name as a
token (and `name_1`, `name_2`... for multi-vector embeddings, expanded by our prompt encoder) to the loaded
pipeline; an embedding stays loaded on that pipeline once used, as in A1111.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.engine.models import families
from modules.engine.models.registry import model_files, sha256_file

log = logging.getLogger(__name__)

SUFFIXES = (".safetensors", ".pt", ".bin")


class EmbeddingError(RuntimeError):
    pass


@dataclass(frozen=True)
class EmbeddingInfo:
    name: str  # the file name without extension: the word that calls it in a prompt
    path: Path

    def sha256(self) -> str:
        return sha256_file(self.path)


def scan(root: Path | None) -> list[EmbeddingInfo]:
    return [EmbeddingInfo(path.stem, path) for path in model_files(root, SUFFIXES)]


def read_vectors(path: Path) -> dict[str, torch.Tensor]:
    """{"": (n, width)} for one text encoder, or {"clip_l": ..., "clip_g": ...} for SDXL."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EmbeddingError(f"embedding {path.name} could not be read ({exc})") from exc
    if not isinstance(raw, dict):
        raise EmbeddingError(f"embedding {path.name} holds a {type(raw).__name__}, not vectors")
    if "clip_l" in raw or "clip_g" in raw:
        return {k: _matrix(raw[k]) for k in ("clip_l", "clip_g") if k in raw}
    if isinstance(raw.get("string_to_param"), dict):
        params = raw["string_to_param"]
        return {"": _matrix(next(iter(params.values())))}
    if "emb_params" in raw:
        return {"": _matrix(raw["emb_params"])}
    tensors = [v for v in raw.values() if isinstance(v, torch.Tensor)]
    if len(tensors) == 1:
        return {"": _matrix(tensors[0])}
    raise EmbeddingError(f"embedding {path.name} has a layout this app does not know (keys: {', '.join(list(raw)[:5])})")


def describe(info: EmbeddingInfo) -> dict[str, Any]:
    """What A1111's /sdapi/v1/embeddings lists for one file: vectors and width, or why it is skipped."""
    try:
        vectors = read_vectors(info.path)
    except EmbeddingError as exc:
        return {"error": str(exc)}
    first = next(iter(vectors.values()))
    return {"vectors": int(first.shape[0]), "shape": int(first.shape[1]), "sd_checkpoint": None,
            "sd_checkpoint_name": None, "step": None,
            "family": "SDXL" if "clip_g" in vectors else families.width_label(int(first.shape[1]))}


def _matrix(t: Any) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise EmbeddingError("an embedding entry is not a tensor")
    return (t if t.ndim == 2 else t.reshape(1, -1)).float()


def mentioned(prompt: str, infos: list[EmbeddingInfo]) -> list[EmbeddingInfo]:
    """Embeddings whose name appears as a whole word (CLIP lower-cases prompts, so case does not matter)."""
    text = prompt.casefold()
    out = []
    for info in infos:
        if re.search(rf"(?<![\w-]){re.escape(info.name.casefold())}(?![\w-])", text):
            out.append(info)
    return out


@dataclass
class EmbeddingSet:
    """The embeddings loaded into one pipeline (name -> vectors count), and the ones that did not fit."""

    loaded: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def ensure(self, pipe: Any, info: EmbeddingInfo) -> str | None:
        """Load `info` into the pipeline if needed; a warning when it cannot be used with this model."""
        if info.name in self.loaded:
            return None
        if info.name in self.refused:
            return self.refused[info.name]
        try:
            vectors = read_vectors(info.path)
            self._load(pipe, info, vectors)
        except EmbeddingError as exc:
            self.refused[info.name] = f"Embedding {info.name} was not used: {exc}."
            return self.refused[info.name]
        self.loaded[info.name] = next(iter(vectors.values())).shape[0]
        return None

    @staticmethod
    def _load(pipe: Any, info: EmbeddingInfo, vectors: dict[str, torch.Tensor]) -> None:
        pairs = [(pipe.tokenizer, pipe.text_encoder, vectors.get("clip_l", vectors.get("")))]
        if getattr(pipe, "text_encoder_2", None) is not None:
            if "clip_g" not in vectors:
                raise EmbeddingError("it is an SD 1.x/2.x embedding and this is an SDXL checkpoint")
            pairs.append((pipe.tokenizer_2, pipe.text_encoder_2, vectors["clip_g"]))
        for tokenizer, encoder, matrix in pairs:
            if tokenizer is None or encoder is None:
                continue
            if matrix is None:
                raise EmbeddingError("it is an SDXL embedding and this checkpoint is not SDXL")
            width = encoder.get_input_embeddings().weight.shape[1]
            if matrix.shape[1] != width:
                family = families.width_label(int(matrix.shape[1]))
                raise EmbeddingError(f"its vectors are for {family} text encoders, and this checkpoint's text encoder is "
                                     f"{width} wide")
            try:
                # A (n, width) matrix: diffusers adds "name", "name_1"... and maybe_convert_prompt expands "name".
                pipe.load_textual_inversion(matrix.to(encoder.dtype), token=info.name.lower(), tokenizer=tokenizer,
                                            text_encoder=encoder)
            except Exception as exc:  # e.g. the name clashes with a word of the vocabulary
                raise EmbeddingError(str(exc)) from exc
