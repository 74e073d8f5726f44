"""styles.csv as A1111 reads and writes it, and how a style merges into a prompt.

A1111's rule: a style text containing `{prompt}` has it replaced by the prompt; otherwise the style text is
appended after the prompt, joined by ", " (an empty side is left out). Styles apply in the order chosen.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("name", "prompt", "negative_prompt")
PLACEHOLDER = "{prompt}"
DEFAULT_FILE = "styles.csv"
# A plain file name: no folder, no path separator, not hidden, ending .csv. Never a path anywhere on the server
# (a `.pth` file in site-packages, say, runs at Python's next start).
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 _.()-]{0,95}\.csv")


def styles_file_in(folder: Path, name: str) -> Path:
    """The styles file `name` inside `folder` (the extension's own); ValueError saying what is allowed otherwise."""
    name = (name or "").strip() or DEFAULT_FILE
    if not FILE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not allowed: give a plain file name ending .csv (letters, digits, spaces, "
                         f"'_', '-', '.', no folder), kept in {folder}. To use an A1111 styles.csv, copy it there.")
    path = Path(folder) / name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValueError(f"{path} is a link or not a plain file: styles are kept only in plain files of {folder}.")
    return path


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge(style_text: str, text: str) -> str:
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, text)
    return ", ".join(part for part in (text.strip(), style_text.strip()) if part)


def apply_styles(prompt: str, negative_prompt: str, styles: list[Style]) -> tuple[str, str]:
    for style in styles:
        prompt = merge(style.prompt, prompt)
        negative_prompt = merge(style.negative_prompt, negative_prompt)
    return prompt, negative_prompt


def parse(text: str) -> dict[str, Style]:
    """Styles by name, in file order. Old A1111 files call the prompt column "text"; rows without a name
    are skipped; a later row of the same name wins, as in A1111."""
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    styles: dict[str, Style] = {}
    for row in reader:
        name = (row.get("name") or "").strip()
        if not name:
            continue
        prompt = row.get("prompt") if row.get("prompt") is not None else row.get("text")
        styles[name] = Style(name, prompt or "", row.get("negative_prompt") or "")
    return styles


def dump(styles: list[Style]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for style in styles:
        writer.writerow((style.name, style.prompt, style.negative_prompt))
    return buffer.getvalue()


class StyleFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Style]:
        if not self.path.is_file():
            return {}
        return parse(self.path.read_text(encoding="utf-8-sig"))  # Excel saves a BOM; A1111 reads it too

    def save(self, styles: list[Style]) -> None:
        """Written to a temporary file and renamed, so a crash never leaves half a styles.csv."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".styles-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(dump(styles))
        os.replace(tmp, self.path)

    def put(self, style: Style) -> None:
        if not style.name.strip():
            raise ValueError("A style needs a name.")
        styles = self.load()
        styles[style.name.strip()] = Style(style.name.strip(), style.prompt, style.negative_prompt)
        self.save(list(styles.values()))

    def delete(self, name: str) -> bool:
        styles = self.load()
        if styles.pop(name, None) is None:
            return False
        self.save(list(styles.values()))
        return True

    def pick(self, names: list[str]) -> tuple[list[Style], list[str]]:
        """(the styles found, in the order asked; the names not found)."""
        styles = self.load()
        return [styles[n] for n in names if n in styles], [n for n in names if n not in styles]
