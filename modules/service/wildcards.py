"""Wildcard files and the job's prompts drawn from templates: one concrete prompt per picture, from its own seed.

Files follow the Dynamic Prompts / A1111 wildcards extensions' layout: `<folder>/name.txt` is `__name__`,
`<folder>/sub/name.txt` is `__sub/name__`; in text files blank lines and `#` comments are skipped. A YAML
file's keys are folders (its own name is not, as in Dynamic Prompts): a YAML file holding
`{colors: {warm: [red, orange]}}` gives `__colors/warm__`.

Picture i of a job draws its prompt from a generator seeded by its own seed (seed + i), so the same seed and
template reproduce the same prompt, and every picture of a batch draws its own. The infotext keeps the drawn
prompt as the prompt, plus `Template:` (and `Negative Template:`), as Dynamic Prompts writes them.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from modules.core.requests import GenerationRequest, RequestError
from modules.core.wildcards import WildcardError, combinations, draw, is_dynamic

TEMPLATE_FIELDS = {"prompt": "Template", "negative_prompt": "Negative Template", "hr_prompt": "Hires Template",
                   "hr_negative_prompt": "Hires Negative Template"}
SCRIPT_PREFIX = "dynamic prompts"  # alwayson_scripts key: "Dynamic Prompts v2.17.1" etc., lower-cased by the API


class WildcardFiles:
    """The wildcards folder, read on each job (a file added while the app runs is found at once)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _all(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if self.folder is None or not self.folder.is_dir():
            return found
        for path in sorted(self.folder.rglob("*")):
            stem = path.relative_to(self.folder).with_suffix("").as_posix()
            if path.suffix.lower() == ".txt":
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                found[stem] = [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]
            elif path.suffix.lower() in (".yaml", ".yml"):
                try:
                    data = yaml.safe_load(path.read_text(encoding="utf-8"))
                except yaml.YAMLError as exc:
                    raise WildcardError(f"The wildcard file {path} is not valid YAML: {exc}") from None
                where = path.parent.relative_to(self.folder).as_posix()
                _flatten("" if where == "." else where, data, found)
        return found

    def lookup(self, name: str) -> list[str]:
        if ".." in name.split("/"):
            raise WildcardError(f"Wildcard __{name}__ reaches outside the wildcards folder: remove the '..'.")
        every = self._all()
        lines = every.get(name)
        if lines is None and "*" in name:
            matched = [line for key, values in every.items() if fnmatch.fnmatchcase(key, name) for line in values]
            lines = matched or None
        if lines is None:
            where = self.folder or "(no wildcards folder: start with --wildcards-dir)"
            close = difflib.get_close_matches(name, list(every), n=3)
            hint = f" Did you mean {', '.join(f'__{c}__' for c in close)}?" if close else ""
            raise WildcardError(f"No wildcard file for __{name}__: looked for {name}.txt or a YAML key in {where}."
                                f"{hint} Write \\_\\_ to keep two underscores as they are.")
        if not lines:
            raise WildcardError(f"The wildcard __{name}__ has no lines (only blank lines or # comments).")
        return lines


def _flatten(prefix: str, data: Any, out: dict[str, list[str]]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _flatten(f"{prefix}/{key}" if prefix else str(key), value, out)
    elif isinstance(data, list):
        out[prefix] = [str(v).strip() for v in data if str(v).strip()]
    elif data is not None:
        out[prefix] = [str(data).strip()]


@dataclass(frozen=True)
class Options:
    enabled: bool = True
    combinatorial: bool = False


def options_of(request: GenerationRequest) -> Options:
    """Dynamic Prompts' own switches from alwayson_scripts (args [enabled, combinatorial, ...]), or ours by name
    (`{"enabled": true, "combinatorial": false}`). On by default, as the extension is once installed."""
    for key, value in request.extra.items():
        if not str(key).startswith(SCRIPT_PREFIX) and key != "wildcards":
            continue
        args = value.get("args", value) if isinstance(value, dict) else value
        if isinstance(args, (list, tuple)):
            return Options(bool(args[0]) if args else True, bool(args[1]) if len(args) > 1 else False)
        if isinstance(args, dict):
            return Options(bool(args.get("enabled", True)), bool(args.get("combinatorial", False)))
        raise RequestError(f"alwayson_scripts[{key!r}] must hold args as a list [enabled, combinatorial] or an "
                           "object {\"enabled\": ..., \"combinatorial\": ...}.")
    return Options()


def _templates(request: GenerationRequest) -> dict[str, str]:
    return {name: getattr(request, name) for name in TEMPLATE_FIELDS if is_dynamic(getattr(request, name))}


def split(request: GenerationRequest, files: WildcardFiles) -> list[GenerationRequest] | None:
    """One request per picture with its prompts drawn (None when nothing is to be drawn). Seeds must be resolved.
    When every picture draws the same prompts, one request makes them all as a single batch job."""
    options = options_of(request)
    templates = _templates(request)
    if not options.enabled or not templates:
        return None
    seeds, subseeds = request.seeds(), request.subseeds()
    try:
        combos = combinations(request.prompt, files.lookup, len(seeds)) if options.combinatorial else []
        drawn = [{name: draw(template, seed, files.lookup) for name, template in templates.items()}
                 for seed in seeds]
    except WildcardError as exc:
        raise RequestError(str(exc)) from None
    if combos:
        for i, fields in enumerate(drawn):
            fields["prompt"] = combos[i % len(combos)]
    info = {**request.infotext_fields, **{TEMPLATE_FIELDS[n]: t for n, t in templates.items()}}
    if all(fields == drawn[0] for fields in drawn):
        return [replace(request, **drawn[0], infotext_fields=info)]
    return [replace(request, **fields, seed=seed, subseed=subseed, batch_size=1, batch_count=1, infotext_fields=info)
            for fields, seed, subseed in zip(drawn, seeds, subseeds)]


def check(request: GenerationRequest, files: WildcardFiles) -> None:
    """At submit time: a missing wildcard or a broken template is refused before the job waits in the queue."""
    if options_of(request).enabled:
        for template in _templates(request).values():
            try:
                draw(template, 0, files.lookup)
            except WildcardError as exc:
                raise RequestError(str(exc)) from None
