"""The queued jobs on disk, so a restart (or a crash) resumes them: a JobStore for the JobQueue (jobs.py).

One JSON file per job in a folder (outputs/.history/queue/ by default): `<id>.json` while it waits,
renamed `<id>.running` when it starts, deleted when it finishes or is cancelled. Each file is written whole
(a temporary file, fsync, os.replace), so a crash leaves the old state or the new one, never half a job.
A request is stored field by field, its pictures (input images, mask, ControlNet images) as PNG in base64,
their metadata (the `parameters` text Extras keeps) alongside: the job resumed is the job submitted.

A file that cannot be read back (damaged, or written by a version whose request fields differ) is moved
aside as `<name>.corrupt` with a warning; the start goes on. A job the process died running is queued again,
at most MAX_RESTARTS times: one that keeps taking the process down is set aside as `<name>.stopped`.
Standard library and PIL only.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from modules.core.aside import move_aside
from modules.core.detailer import DetailerUnit
from modules.core.requests import ControlUnit, GenerationRequest, LoraRef
from modules.core.regions import Region
from modules.core.soft_inpainting import SoftInpainting
from modules.service.jobs import SavedJob

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TYPES", "MAX_RESTARTS", "QueueFolder", "decode", "encode"]

FORMAT = 1
MAX_RESTARTS = 2  # runs a job gets again after the process died running it
QUEUED_SUFFIX, RUNNING_SUFFIX = ".json", ".running"
DEFAULT_TYPES: tuple[type, ...] = (GenerationRequest, ControlUnit, LoraRef, SoftInpainting, DetailerUnit, Region)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")


class QueueFolder:
    """A JobStore keeping each queued job as a file in `folder` (created when the first job is saved).

    `types` are the dataclasses a request may be made of (services adds the Extras request): only these are
    rebuilt from a file, so a file never names a class to import."""

    def __init__(self, folder: Path, types: Iterable[type] = DEFAULT_TYPES) -> None:
        self.folder = Path(folder)
        self._types = {_type_name(kind): kind for kind in types}
        self._lock: Any = None  # the open lock file while this process owns the folder
        self._shared = False  # another running instance owns it: this one keeps its queue in memory only

    def _owns(self) -> bool:
        """Only one running instance may own the folder (two instances on one outputs folder would each resume,
        and run, the other's jobs). Held for the life of the process; released by the OS when it ends."""
        if self._lock is not None:
            return True
        if self._shared:
            return False
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one instance per outputs folder is the user's to keep
            self._lock = True
            return True
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder.with_name(self.folder.name + ".lock"), "a+")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            self._shared = True
            log.warning("queue: another running instance uses %s; this one's queued jobs will not survive a "
                        "restart (give each instance its own --outputs-dir)", self.folder)
            return False
        self._lock = handle
        return True

    def close(self) -> None:
        """Let another instance own the folder (the end of the process does the same)."""
        if self._lock not in (None, True):
            self._lock.close()
        self._lock = None

    # ------------------------------------------------------------------------------------------ JobStore
    def save(self, job: SavedJob) -> None:
        if not self._owns():
            return
        record = {"format": FORMAT, "id": _checked_id(job.id), "owner": job.owner, "seq": job.seq,
                  "created": job.created, "restarts": 0, "request": encode(job.request, self._types)}
        self._write(self._path(job.id, QUEUED_SUFFIX), record)

    def started(self, job_id: str) -> None:
        if not self._owns():
            return
        # A rename: the file stays whole, and a process that dies now finds the job marked as running.
        try:
            os.replace(self._path(job_id, QUEUED_SUFFIX), self._path(job_id, RUNNING_SUFFIX))
        except FileNotFoundError:
            pass  # never saved (the store failed at submit): nothing to mark

    def remove(self, job_id: str) -> None:
        if not self._owns():
            return
        for suffix in (QUEUED_SUFFIX, RUNNING_SUFFIX):
            self._path(job_id, suffix).unlink(missing_ok=True)

    def requeue(self, job_id: str) -> None:
        if not self._owns():
            return
        try:
            os.replace(self._path(job_id, RUNNING_SUFFIX), self._path(job_id, QUEUED_SUFFIX))
        except FileNotFoundError:
            pass

    def load(self) -> list[SavedJob]:
        """The saved jobs by their order; damaged files are moved aside, half-written temporaries removed."""
        if not self.folder.is_dir() or not self._owns():
            return []
        jobs: dict[str, SavedJob] = {}
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith(".tmp-"):  # a write a crash cut short: the job it replaced is still there
                path.unlink(missing_ok=True)
                continue
            job_id, suffix = path.stem, path.suffix
            if suffix not in (QUEUED_SUFFIX, RUNNING_SUFFIX) or not _ID.fullmatch(job_id):
                continue  # set aside earlier, or not ours
            if suffix == RUNNING_SUFFIX and self._path(job_id, QUEUED_SUFFIX).exists():
                path.unlink()  # a crash between re-queueing it and dropping the mark: the queued file is newer
                continue
            job = self._read(path)
            if job is not None:
                jobs[job.id] = job
        return sorted(jobs.values(), key=lambda job: (job.seq, job.created))

    # ------------------------------------------------------------------------------------------ files
    def _path(self, job_id: str, suffix: str) -> Path:
        return self.folder / f"{_checked_id(job_id)}{suffix}"

    def _read(self, path: Path) -> SavedJob | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") != FORMAT:
                raise ValueError(f"format {record.get('format')!r}, this version reads {FORMAT}")
            if record["id"] != path.stem:
                raise ValueError(f"it holds job {record['id']!r}")
            job = SavedJob(id=record["id"], owner=str(record["owner"]), seq=int(record["seq"]),
                           request=decode(record["request"], self._types), created=float(record["created"]),
                           was_running=path.suffix == RUNNING_SUFFIX)
        except Exception as exc:  # whatever is wrong with one file, the others and the start go on
            self._set_aside(path, f"it cannot be read back ({type(exc).__name__}: {exc})")
            return None
        if not job.was_running:
            return job
        restarts = int(record.get("restarts", 0)) + 1
        if restarts > MAX_RESTARTS:
            self._set_aside(path, f"the process stopped while running it {restarts} times; it may be what stops "
                                  "it", tag="stopped")
            return None
        # Counted before it runs again, and queued again: a process that dies before it restarts loses nothing.
        self._write(self._path(job.id, QUEUED_SUFFIX), {**record, "restarts": restarts})
        path.unlink()
        return job

    def _set_aside(self, path: Path, why: str, tag: str = "corrupt") -> None:
        try:
            aside = move_aside(path, tag=tag)
        except OSError as exc:
            log.warning("queue: skipping the saved job %s: %s (and it could not be moved aside: %s)", path, why,
                        exc)
            return
        log.warning("queue: the saved job %s is not queued again: %s. It is kept as %s.", path.name, why,
                    aside.name)

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(record, file, ensure_ascii=False, separators=(",", ":"))
                file.flush()
                os.fsync(file.fileno())  # whole on disk before its name says so
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _checked_id(job_id: str) -> str:
    if not _ID.fullmatch(job_id):  # it becomes a file name: never a path
        raise ValueError(f"invalid job id {job_id!r}")
    return job_id


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


# ------------------------------------------------------------------------------------------ values
# JSON objects are always tagged by one key, so a dict of the request (`extra`) never reads as something else.
def encode(value: Any, types: dict[str, type]) -> Any:
    """A request (or any value in it) as JSON data; TypeError for something that can't be stored."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Image.Image):
        return _encode_image(value, types)
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"tuple": [encode(item, types) for item in value]}
    if isinstance(value, list):
        return [encode(item, types) for item in value]
    if isinstance(value, dict):
        return {"dict": [[encode(key, types), encode(item, types)] for key, item in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _type_name(type(value))
        if types.get(name) is not type(value):
            raise TypeError(f"a {name} can't be saved with a queued job (not one of the request types)")
        return {"dataclass": name, "fields": {f.name: encode(getattr(value, f.name), types)
                                              for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"a {type(value).__name__} can't be saved with a queued job")


def decode(data: Any, types: dict[str, type]) -> Any:
    """The value `encode` stored; ValueError/TypeError/KeyError for data it could not have written."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item, types) for item in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected data {str(data)[:80]!r}")
    if "image" in data:
        return _decode_image(data, types)
    if "bytes" in data:
        return base64.b64decode(data["bytes"], validate=True)
    if "tuple" in data:
        return tuple(decode(item, types) for item in data["tuple"])
    if "dict" in data:
        return {decode(key, types): decode(item, types) for key, item in data["dict"]}
    if "dataclass" in data:
        kind = types.get(data["dataclass"])
        if kind is None:
            raise ValueError(f"{data['dataclass']!r} is not a request type of this version")
        return kind(**{name: decode(item, types) for name, item in data["fields"].items()})
    raise ValueError(f"unexpected data {str(data)[:80]!r}")


def _encode_image(image: Image.Image, types: dict[str, type]) -> dict[str, Any]:
    buffer = io.BytesIO()
    # PNG is lossless for these modes (compress_level 1: fast, the file lives only until the job runs); TIFF
    # keeps the others as they are (32-bit I and F, CMYK...), where PNG would convert or refuse them.
    kind = "PNG" if image.mode in _PNG_MODES else "TIFF"
    if kind == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="TIFF")
    info: dict[str, Any] = {}
    for key, value in image.info.items():  # text chunks and EXIF: how the picture was made (PNG Info, Extras)
        try:
            info[key] = encode(value, types)
        except TypeError:
            continue  # e.g. a colour-management object: not part of the picture's pixels or parameters
    return {"image": base64.b64encode(buffer.getvalue()).decode("ascii"), "format": kind,
            "info": {"dict": [[key, value] for key, value in info.items()]}}


def _decode_image(data: dict[str, Any], types: dict[str, type]) -> Image.Image:
    raw = base64.b64decode(data["image"], validate=True)
    with Image.open(io.BytesIO(raw), formats=[data.get("format", "PNG")]) as opened:
        opened.load()
        image = opened.copy()  # a plain picture, not tied to the buffer
    image.info = decode(data.get("info", {"dict": []}), types)
    return image
