"""The text-encoder and VAE files a job adds to its checkpoint (Forge's `forge_additional_modules`): checking the
names a request carries, and writing and reading them in the infotext as Forge does ("Module 1: ae.safetensors").

Forge's API clients send full paths (its option stores them so); the UI sends file names. Both are kept as given
here and matched by file name in the engine, so a path from another machine still finds the same file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_MODULES = 8  # a checkpoint takes at most a VAE and three text encoders; more is a mistake, not a choice
INFOTEXT_KEY = re.compile(r"^Module (\d+)$")


class ModulesError(ValueError):
    """A module list that cannot be a choice of files; the message says which entry and why."""


def file_name(entry: str) -> str:
    """The file name of an entry, whether sent as a name or as a path (Windows or POSIX)."""
    return re.split(r"[\\/]", entry.strip())[-1]


def check(entries: Any) -> tuple[str, ...]:
    """The request's module list, normalised to a tuple of non-empty strings without duplicates."""
    if entries is None:
        return ()
    if isinstance(entries, str):
        entries = [entries] if entries.strip() else []
    if not isinstance(entries, Iterable):
        raise ModulesError(f"VAE / Text encoder must be a list of file names, but is {type(entries).__name__}.")
    out: list[str] = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, str) or not entry.strip():
            raise ModulesError(f"VAE / Text encoder entry {i} must be a file name such as 'ae.safetensors', "
                               f"but is {entry!r}.")
        if "\x00" in entry or len(entry) > 1024:
            raise ModulesError(f"VAE / Text encoder entry {i} is not a file name.")
        name = file_name(entry)  # with or without ".safetensors": Forge's infotexts may leave it out
        if any(file_name(o) == name for o in out):
            raise ModulesError(f"VAE / Text encoder names {name} twice; choose it once.")
        out.append(entry.strip())
    if len(out) > MAX_MODULES:
        raise ModulesError(f"VAE / Text encoder has {len(out)} files; a model takes at most a VAE and three text "
                           f"encoders (the limit is {MAX_MODULES}).")
    return tuple(out)


def infotext_params(names: Iterable[str]) -> dict[str, str]:
    """Forge's fields: one "Module N" per file, by file name."""
    return {f"Module {i}": file_name(name) for i, name in enumerate(names, 1)}


def from_infotext(params: Mapping[str, str]) -> tuple[str, ...]:
    """The module files an infotext names, in their order."""
    found = sorted((int(m.group(1)), value.strip()) for key, value in params.items()
                   if (m := INFOTEXT_KEY.match(key)) and value.strip())
    return tuple(value for _, value in found)
