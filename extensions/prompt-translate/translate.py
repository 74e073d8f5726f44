"""Chinese -> English prompt translation with a glossary, keeping A1111's prompt syntax intact.

Only runs of Chinese characters change; everything else stays where it is: weights `(红色头发:1.2)` become
`(red hair:1.2)`, `<lora:名字:0.8>` tags are left as they are (the name is a file name), `[a:b:10]`, BREAK
and English words pass through. Full-width punctuation (，、（）：) becomes its ASCII twin first, so Chinese
punctuation still separates tags. A run is cut into the longest glossary entries, left to right; a character
no entry covers is kept and reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
PROTECTED = re.compile(r"<[^<>]*>")  # <lora:...>, <lyco:...>, <hypernet:...>
PUNCTUATION = {"，": ",", "、": ",", "；": ",", "。": ",", "（": "(", "）": ")", "：": ":", "【": "[",
               "】": "]", "｜": "|", "！": "", "？": "", "“": '"', "”": '"', "　": " "}


@dataclass
class Translation:
    text: str
    untranslated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.text)


def load_glossary(path: Path) -> dict[str, str]:
    """`中文 = english` lines; `#` starts a comment; an empty English side drops the word (particles)."""
    glossary: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        chinese, sep, english = text.partition("=")
        if not sep or not chinese.strip():
            raise ValueError(f"{path.name} line {number}: expected '中文 = english', got {line!r}")
        glossary[chinese.strip()] = english.strip()
    return glossary


def has_chinese(text: str) -> bool:
    return bool(HAN.search(text or ""))


def _normalise(text: str) -> str:
    out = []
    for ch in text:
        if ch in PUNCTUATION:
            out.append(PUNCTUATION[ch])
        elif "\uff01" <= ch <= "\uff5e":  # full-width ASCII: digits, letters, ( ) : in a Chinese IME
            out.append(unicodedata.normalize("NFKC", ch))
        else:
            out.append(ch)
    return "".join(out)


class Translator:
    def __init__(self, glossary: dict[str, str]) -> None:
        self.glossary = glossary
        self.longest = max((len(k) for k in glossary), default=1)
        # Entries mixing Latin letters or digits with Chinese ("T恤", "3D渲染") are matched before the runs of
        # Chinese characters, which would otherwise cut them apart.
        mixed = sorted((k for k in glossary if HAN.search(k) and not HAN.fullmatch(k)), key=len, reverse=True)
        self.mixed = re.compile("|".join(re.escape(k) for k in mixed), re.IGNORECASE) if mixed else None
        self.mixed_keys = {k.casefold(): k for k in mixed}

    def words(self, run: str, unknown: list[str]) -> list[str]:
        """The English words of one run of Chinese characters, longest entries first."""
        out, i = [], 0
        while i < len(run):
            for size in range(min(self.longest, len(run) - i), 0, -1):
                piece = run[i:i + size]
                if piece in self.glossary:
                    if self.glossary[piece]:
                        out.append(self.glossary[piece])
                    i += size
                    break
            else:
                # Keep an unknown character (the user sees it reported); join neighbours into one word.
                if unknown and out and out[-1] == unknown[-1] and run[i - 1] == unknown[-1][-1]:
                    out[-1] += run[i]
                    unknown[-1] += run[i]
                else:
                    out.append(run[i])
                    unknown.append(run[i])
                i += 1
        return out

    def _free_text(self, text: str, unknown: list[str]) -> str:
        text = _normalise(text)
        if self.mixed is not None:
            text = self.mixed.sub(lambda m: self.glossary[self.mixed_keys[m.group(0).casefold()]], text)

        def replace(match: re.Match[str]) -> str:
            english = " ".join(self.words(match.group(0), unknown))
            before = text[match.start() - 1] if match.start() > 0 else ""
            after = text[match.end()] if match.end() < len(text) else ""
            if before and (before.isalnum() or before in ")]"):
                english = " " + english
            if after and (after.isalnum() or after in "(["):
                english += " "
            return english

        return HAN.sub(replace, text)

    def translate(self, prompt: str) -> Translation:
        """The prompt with its Chinese translated; Translation.text is "" when there was nothing to do."""
        if not has_chinese(prompt) and not any(ch in PUNCTUATION for ch in prompt or ""):
            return Translation("")
        unknown: list[str] = []
        parts, last = [], 0
        for tag in PROTECTED.finditer(prompt):
            parts.append(self._free_text(prompt[last:tag.start()], unknown))
            parts.append(tag.group(0))
            last = tag.end()
        parts.append(self._free_text(prompt[last:], unknown))
        text = re.sub(r"[ \t]+", " ", "".join(parts))
        text = re.sub(r" +([,):\]])", r"\1", text)
        text = re.sub(r"([(\[]) +", r"\1", text)
        text = re.sub(r",(?=[^\s,])", ", ", text)
        return Translation(text.strip(), list(dict.fromkeys(unknown)))
