"""Keeping a damaged file for someone to look at: it is moved to `<name>.corrupt` (`.corrupt-2`, ... when an
earlier copy has that name), never deleted and never over an earlier copy. The history index and the saved
job queue use it before they start again from the pictures on disk, the settings files before they start
again from the defaults. Standard library only.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

__all__ = ["move_aside"]


def move_aside(path: Path, companions: tuple[str, ...] = (), tag: str = "corrupt") -> Path:
    """Move `path` to the first free `<name>.corrupt[-n]` (or another `tag`) beside it and return that name.

    `companions` are suffixes of files that belong to it (SQLite's "-wal" journal): each is moved along under
    the same new name plus its suffix, so the damaged copy stays whole. A missing `path` (or companion) is
    skipped. Raises OSError if the folder cannot be written."""
    path = Path(path)
    for n in itertools.count(1):
        target = path.with_name(f"{path.name}.{tag}" + (f"-{n}" if n > 1 else ""))
        if target.exists() or any(Path(f"{target}{suffix}").exists() for suffix in companions):
            continue
        try:
            if path.exists():
                _move_no_replace(path, target)
        except FileExistsError:  # taken meanwhile (another process moving its own copy aside): next number
            continue
        for suffix in companions:
            source = Path(f"{path}{suffix}")
            if source.exists():
                _move_no_replace(source, Path(f"{target}{suffix}"))
        return target
    raise AssertionError("unreachable")


def _move_no_replace(source: Path, target: Path) -> None:
    """Rename that never replaces an existing file (os.rename does on POSIX): link the new name, drop the old."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(source, target)
        return
    source.unlink()
