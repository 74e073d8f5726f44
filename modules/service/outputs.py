"""Saving generated images: A1111 file names, never a half-written or overwritten file.

Images land in ``folder/YYYY-MM-DD/NNNNN-SEED.ext``, numbered as A1111 numbers them (highest leading
number in the folder + 1), so users' scripts and image browsers keep working. Several jobs, threads
or even server processes may save into the same folder at once; correctness comes from the file
system (a hard link or O_EXCL create fails if the name is taken), not from a lock.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol

from PIL import Image

from modules.core.infotext import exif_for, pnginfo_for

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "OutputStore", "check_path_component", "next_number", "save_image"]

# fmt -> (Pillow format, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", ".png"),
    "jpg": ("JPEG", ".jpg"),
    "jpeg": ("JPEG", ".jpg"),
    "webp": ("WEBP", ".webp"),
}
RE_NUMBER = re.compile(r"^(\d+)(?=[-.]|$)")
MAX_ATTEMPTS = 10_000
# Leading dots: galleries skip these and RE_NUMBER never counts them.
TEMP_PREFIX = ".tmp-"
MARKER_PREFIX = ".saving-"


def _numbers(directory: Path) -> set[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {int(match.group(1)) for match in map(RE_NUMBER.match, names) if match}


def next_number(directory: Path) -> int:
    """A1111's counter: one more than the highest leading number among the folder's files."""
    return max(_numbers(directory), default=-1) + 1


def _encode(image: Image.Image, fmt: str, infotext: str, quality: int, chunks: dict[str, str] | None = None) -> bytes:
    try:
        pil_format, _ = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unsupported image format {fmt!r}; use one of {sorted(FORMATS)}") from None
    buffer = io.BytesIO()
    if pil_format == "PNG":
        image.save(buffer, format="PNG", pnginfo=pnginfo_for(infotext, chunks))
        return buffer.getvalue()
    if pil_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG has no alpha; A1111 drops it the same way
    image.save(buffer, format=pil_format, quality=quality, exif=exif_for(infotext))
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read once (reading it means setting it, which is not thread-safe)."""
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _write_temp(directory: Path, data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=suffix)
    try:
        # mkstemp makes the file 0600 and the link keeps that: give it the mode a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes must be on disk before the name points at them
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _link(temp: Path, final: Path) -> None:
    """Give temp the name final, atomically, raising FileExistsError if final already exists."""
    try:
        os.link(temp, final)  # the file appears complete, and link never replaces an existing name
        return
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (FAT, some network shares; the errno differs by OS). Reserve the name
        # exclusively, then replace our own empty placeholder: readers may briefly see an empty
        # file, never a lost image. A real error (disk full, permissions) is raised by this path too.
        pass
    os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    try:
        os.replace(temp, final)
    except BaseException:
        final.unlink()  # only our own empty placeholder
        raise


def _try_number(directory: Path, number: int, temp: Path, final: Path) -> bool:
    """Save temp as final if nobody else has a file numbered `number`; False means try another.

    Names differ by seed, so an exclusive create of the final name alone would let two savers both
    take 00014. A marker per number serialises savers of that number; the scan made while holding
    it sees any file an earlier holder linked before releasing it.
    """
    marker = directory / f"{MARKER_PREFIX}{number:05d}"
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    try:
        if number in _numbers(directory):
            return False
        _link(temp, final)
        return True
    except FileExistsError:
        return False  # a writer that does not use markers (or a person) took this exact name
    finally:
        marker.unlink()


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals the rename itself
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_image(
    image: Image.Image,
    *,
    folder: Path,
    seed: int | None,
    infotext: str,
    fmt: str = "png",
    now: datetime | None = None,
    quality: int = 80,
    chunks: dict[str, str] | None = None,
) -> Path:
    """Save image as ``folder/YYYY-MM-DD/NNNNN-SEED.<fmt>`` (``NNNNN.<fmt>`` without a seed, as A1111 names
    extras) with its infotext and any further PNG text `chunks`; return the path."""
    fmt = fmt.lower()
    data = _encode(image, fmt, infotext, quality, chunks)
    extension = FORMATS[fmt][1]
    directory = Path(folder) / (now or datetime.now()).strftime("%Y-%m-%d")
    directory.mkdir(parents=True, exist_ok=True)

    temp = _write_temp(directory, data, extension)
    try:
        number = next_number(directory)
        for _ in range(MAX_ATTEMPTS):
            final = directory / (f"{number:05d}{extension}" if seed is None else f"{number:05d}-{int(seed)}{extension}")
            if _try_number(directory, number, temp, final):
                _fsync_dir(directory)
                return final
            # Someone else took this number meanwhile; rescanning skips past all of theirs.
            number = max(number + 1, next_number(directory))
        raise RuntimeError(f"could not find a free file name in {directory} after {MAX_ATTEMPTS} tries")
    finally:
        temp.unlink(missing_ok=True)  # after a link both names exist; drop the temporary one


def check_path_component(name: str, what: str) -> str:
    """Return name if it is one plain folder name; raise ValueError for anything that could escape."""
    bad = (
        not name.strip()
        or name in (".", "..")
        or any(c in name for c in "/\\:\x00")
        or name != name.strip()
    )
    if bad:
        raise ValueError(
            f"invalid {what} {name!r}: it must be a single folder name without '/', '\\\\', ':', "
            "surrounding spaces, and not '.' or '..'"
        )
    return name


class SavedIndex(Protocol):
    """What the store tells of each picture it saved (the History; tests stand in with a recorder)."""

    def saved(self, path: Path, *, infotext: str, user: str | None, kind: str,
              size: tuple[int, int]) -> None: ...


class OutputStore:
    """The outputs folder: ``root/[user/]kind/YYYY-MM-DD/NNNNN-SEED.ext``."""

    def __init__(self, root: Path, index: SavedIndex | None = None) -> None:
        self.root = Path(root)
        self.index = index  # told of every saved picture (the History)

    def folder(self, kind: str, user: str | None = None) -> Path:
        check_path_component(kind, "output kind")
        base = self.root if user is None else self.root / check_path_component(user, "user name")
        return base / kind

    def save(
        self,
        image: Image.Image,
        kind: str,
        seed: int | None,
        infotext: str,
        user: str | None = None,
        *,
        fmt: str = "png",
        now: datetime | None = None,
        chunks: dict[str, str] | None = None,
    ) -> Path:
        path = save_image(
            image, folder=self.folder(kind, user), seed=seed, infotext=infotext, fmt=fmt, now=now, chunks=chunks
        )
        self._index(path, image, infotext, user, kind, now)
        return path

    def rewrite_infotext(self, path: Path, image: Image.Image, infotext: str, user: str | None, kind: str) -> None:
        """Replace the metadata of a picture this job saved moments ago (extensions' after_generate hooks add
        fields once the whole job is done): written to a temporary file and renamed over it, so the picture
        is whole at every instant."""
        path = Path(path)
        data = _encode(image, path.suffix.lstrip(".").lower(), infotext, 80)
        temp = _write_temp(path.parent, data, path.suffix)
        os.replace(temp, path)
        self._index(path, image, infotext, user, kind, None)

    def _index(self, path: Path, image: Image.Image, infotext: str, user: str | None, kind: str,
               now: datetime | None) -> None:
        if self.index is None:
            return
        try:
            self.index.saved(path, infotext=infotext, user=user, kind=kind, size=image.size,
                             created=now.timestamp() if now else None)
        except Exception:  # the picture is safe on disk; the next start's repair scan indexes it
            log.exception("saved %s but could not add it to the history index", path)

    def remove_stale_temporaries(self) -> int:
        """Delete the half-written `.tmp-*` files a crash left behind (never a finished picture: those have
        their final names). Call at start, before any job runs."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for temp in self.root.rglob(TEMP_PREFIX + "*"):
            if temp.is_file() and not temp.is_symlink():
                try:
                    temp.unlink()
                    removed += 1
                except OSError as exc:
                    log.warning("could not remove the stale temporary file %s: %s", temp, exc)
        return removed
