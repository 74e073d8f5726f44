"""Bring an existing folder of pictures (ours, or A1111's `outputs/`) into the history.

Files are hard-linked (copied where links are impossible) into `<outputs>/[<user>/]imported/<folder name>/`,
keeping their sub-folders and modification times: the history only ever points inside the outputs folder
(so serving a picture can never reach elsewhere on disk), the originals are never touched, and a linked
import costs no space. The infotext of each picture is read as it is indexed.

Run: python -m modules.service.history_import /path/to/stable-diffusion-webui/outputs [--user alice] [--outputs-dir outputs]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from modules.service.history import History, walk_images
from modules.service.outputs import check_path_component

log = logging.getLogger(__name__)

IMPORT_FOLDER = "imported"


@dataclass
class ImportReport:
    imported: int = 0
    already: int = 0  # imported before (same name at the destination): not duplicated
    unreadable: int = 0
    skipped: int = 0  # links, and anything that is not a regular file inside the folder: never followed

    def __str__(self) -> str:
        text = f"{self.imported} picture(s) imported, {self.already} already there, {self.unreadable} unreadable"
        return text + (f", {self.skipped} link(s) or special file(s) skipped" if self.skipped else "")


def _inside(source: Path, folder: Path) -> bool:
    """A regular file reached without any link, inside `folder`: a planted `x.png -> /etc/passwd` (or a linked
    folder) would otherwise become a picture anyone with access to the outputs could download."""
    if source.is_symlink() or any(parent.is_symlink() for parent in source.parents if folder in parent.parents):
        return False
    try:
        return source.resolve(strict=True).is_relative_to(folder) and stat.S_ISREG(source.lstat().st_mode)
    except OSError:
        return False


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)  # raises FileExistsError rather than replacing anything
    except FileExistsError:
        raise
    except OSError:  # another file system, or no hard links there
        with open(source, "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst)
        shutil.copystat(source, target)


def import_folder(history: History, folder: Path, owner: str | None = None) -> ImportReport:
    """Import every picture under `folder` for `owner` (None: the shared, no-accounts layout)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: give the folder that holds the pictures (e.g. A1111's outputs)")
    root = history.root.resolve()
    if folder == root or root in folder.parents:
        raise ValueError(f"{folder} is already inside the outputs folder; its pictures are indexed at start")
    base = history.root / (check_path_component(owner, "user name") if owner else "") / IMPORT_FOLDER / folder.name
    report = ImportReport()
    for source in walk_images(folder):
        if not _inside(source, folder):
            log.warning("history import: skipped %s (a link, or not a regular file inside %s)", source, folder)
            report.skipped += 1
            continue
        target = base / source.relative_to(folder)
        try:
            _place(source, target)
        except FileExistsError:
            report.already += 1
            continue
        if history.record_file(target, owner=owner) is None:
            report.unreadable += 1  # kept in place all the same: it is the user's file
        else:
            report.imported += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.service.history_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder of PNG/JPEG/WebP pictures, searched recursively")
    parser.add_argument("--user", help="the account the pictures belong to (with accounts)")
    parser.add_argument("--outputs-dir", type=Path, default=Path(__file__).resolve().parents[2] / "outputs",
                        help="the WebUI's outputs folder (default: outputs/ of this install)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    history = History(args.outputs_dir)
    try:
        print(import_folder(history, args.folder, args.user))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        history.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
