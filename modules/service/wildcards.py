"""Wildcard files and the job's prompts drawn from templates with the `dynamicprompts` library (the engine of
the Dynamic Prompts extension, adieyal/sd-dynamic-prompts): one concrete prompt per picture, from its own seed.

Syntax (the library's): `{a|b|c}`; `{2$$a|b|c}` two distinct options joined by "," (`{2$$ and $$a|b|c}` by
" and "); `{1-3$$a|b}`; `{2::a|1::b}` weighted; `__name__` a line of a wildcard file, `__sub/name__`,
`__colors*__`; `{2$$__colors__}`. Kept from A1111 and us: a `|` inside `[...]` is A1111's alternation and never
splits a variant; `\\{`, `\\}`, `\\|` and `\\_` are literal.

Files follow the Dynamic Prompts layout: `<folder>/name.txt` is `__name__`, `<folder>/sub/name.txt` is
`__sub/name__`; blank lines and `#` comments are skipped; a YAML (or JSON) file's keys are folders (its own name is
not): `{colors: {warm: [red, orange]}}` gives `__colors/warm__`. Lines keep their file order.

Picture i of a job draws its prompt from a generator seeded by its own seed (seed + i), so the same seed and
template reproduce the same prompt, and every picture of a batch draws its own. The infotext keeps the drawn
prompt as the prompt, plus `Template:` (and `Negative Template:`), as Dynamic Prompts writes them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from dynamicprompts.commands import Command, SequenceCommand, VariantCommand, WildcardCommand, WrapCommand
from dynamicprompts.commands.variable_commands import VariableAccessCommand, VariableAssignmentCommand
from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
from dynamicprompts.parser.parse import parse
from dynamicprompts.wildcards import WildcardManager

from modules.core.requests import GenerationRequest, RequestError

TEMPLATE_FIELDS = {"prompt": "Template", "negative_prompt": "Negative Template", "hr_prompt": "Hires Template",
                   "hr_negative_prompt": "Hires Negative Template"}
SCRIPT_PREFIX = "dynamic prompts"  # alwayson_scripts key: "Dynamic Prompts v2.17.1" etc., lower-cased by the API
OWN_KEY = "wildcards"  # our own alwayson_scripts key (and the UI's): {"enabled": ..., "combinatorial": ...}
MAX_DEPTH = 20  # wildcards that name each other would otherwise recurse for ever
WILDCARD = re.compile(r"__([A-Za-z0-9*][\w\-./*]*?)__")
_RANGE = re.compile(r"(?<!\\)\{\s*(\d+)\s*-\s*(\d+)\s*\$\$")
# Stand-ins (Unicode private use) for what the library must not read: escapes, and bars of A1111's [a|b].
_ESCAPES = {"\\{": "\ue000", "\\}": "\ue001", "\\|": "\ue002", "\\_": "\ue003"}
_BAR = "\ue004"
_BACK = {"\ue000": "{", "\ue001": "}", "\ue002": "|", "\ue003": "_", _BAR: "|"}


class WildcardError(ValueError):
    """A template that cannot be drawn: the message names the wildcard or the position, and the fix."""


def is_dynamic(template: str) -> bool:
    """Whether the template has anything to draw (variants or wildcards)."""
    return bool(WILDCARD.search(template)) or bool(re.search(r"(?<!\\)\{", template))


def _protected(template: str) -> str:
    """The template with escapes and A1111's alternation bars hidden from the library, braces checked."""
    for escape, stand_in in _ESCAPES.items():
        template = template.replace(escape, stand_in)
    out, square, opened = [], 0, []
    for i, char in enumerate(template):
        square += char == "["
        square -= char == "]" and square > 0
        if char == "{":
            opened.append(i)
        elif char == "}":
            if not opened:
                raise WildcardError(f"The prompt has a '}}' at character {i + 1} with no '{{' before it. Remove it, "
                                    "or write \\} for a literal brace.")
            opened.pop()
        out.append(_BAR if char == "|" and square else char)
    if opened:
        raise WildcardError(f"The prompt has a '{{' at character {opened[-1] + 1} that is never closed by '}}'. "
                            "Close it, or write \\{ for a literal brace.")
    for low, high in _RANGE.findall(template):
        if int(low) > int(high):
            raise WildcardError(f"A variant asks for {low}-{high} options: the first number must not be larger "
                                "than the second.")
    return "".join(out)


def _restored(prompt: str) -> str:
    return "".join(_BACK.get(char, char) for char in prompt)


def _wildcard_names(command: Command) -> list[str]:
    """The wildcard names a parsed template uses directly (not those inside the files it names)."""
    if isinstance(command, WildcardCommand):
        return [command.wildcard] if isinstance(command.wildcard, str) else _wildcard_names(command.wildcard)
    if isinstance(command, SequenceCommand):
        return [name for token in command.tokens for name in _wildcard_names(token)]
    if isinstance(command, VariantCommand):
        return [name for option in command.variants for name in _wildcard_names(option.value)]
    if isinstance(command, WrapCommand):
        return _wildcard_names(command.wrapper) + _wildcard_names(command.inner)
    if isinstance(command, VariableAssignmentCommand):
        return _wildcard_names(command.value)
    if isinstance(command, VariableAccessCommand) and command.default is not None:
        return _wildcard_names(command.default)
    return []


class WildcardFiles:
    """The wildcards folder, read afresh for each job (a file added while the app runs is found at once)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def manager(self) -> WildcardManager:
        manager = WildcardManager(self.folder if self.folder is not None and self.folder.is_dir() else None)
        manager.sort_wildcards = False  # file order: combinatorial mode walks the lines as written
        return manager

    def _check(self, manager: WildcardManager, template: str, depth: int = 0) -> None:
        """Every wildcard the template names (and those its files name) has lines; no wildcard names itself."""
        if depth > MAX_DEPTH:
            raise WildcardError(f"Wildcards nest more than {MAX_DEPTH} deep: one of them probably names itself.")
        try:
            command = parse(_protected(template))
        except WildcardError:
            raise
        except Exception as exc:  # the library's pyparsing errors
            raise WildcardError(f"The prompt template could not be read: {exc}.") from None
        for name in dict.fromkeys(_wildcard_names(command)):
            for line in self._lines(manager, name):
                if is_dynamic(line):
                    self._check(manager, line, depth + 1)

    def _lines(self, manager: WildcardManager, name: str) -> list[str]:
        if ".." in name.split("/"):
            raise WildcardError(f"Wildcard __{name}__ reaches outside the wildcards folder: remove the '..'.")
        lines = [str(value) for value in manager.get_values(name)]
        if lines:
            return lines
        where = self.folder if self.folder is not None else "(no wildcards folder: start with --wildcards-dir)"
        close = difflib.get_close_matches(name, sorted(manager.get_collection_names()), n=3)
        hint = f" Did you mean {', '.join(f'__{c}__' for c in close)}?" if close else ""
        raise WildcardError(f"No wildcard file for __{name}__ (or it has no lines): looked for {name}.txt or a "
                            f"YAML key in {where}.{hint} Write \\_\\_ to keep two underscores as they are.")

    def draw(self, template: str, seed: int, manager: WildcardManager | None = None) -> str:
        """One prompt drawn at random; the same seed always draws the same prompt (Dynamic Prompts' random mode)."""
        manager = manager or self.manager()
        self._check(manager, template)
        drawn = RandomPromptGenerator(manager, seed=seed).generate(_protected(template), 1)
        return _restored(drawn[0]) if drawn else ""

    def combinations(self, template: str, limit: int, manager: WildcardManager | None = None) -> list[str]:
        """Every prompt the template can make, in order, at most `limit` (Dynamic Prompts' combinatorial mode)."""
        manager = manager or self.manager()
        self._check(manager, template)
        prompts = CombinatorialPromptGenerator(manager).generate(_protected(template), max_prompts=limit)
        return [_restored(prompt) for prompt in prompts]


@dataclass(frozen=True)
class Options:
    enabled: bool = True
    combinatorial: bool = False


def options_of(request: GenerationRequest) -> Options:
    """Dynamic Prompts' own switches from alwayson_scripts (args [enabled, combinatorial, ...]), or ours by name
    (`{"enabled": true, "combinatorial": false}`). On by default, as the extension is once installed."""
    for key, value in request.extra.items():
        if not str(key).startswith(SCRIPT_PREFIX) and key != OWN_KEY:
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
    manager = files.manager()
    try:
        combos = files.combinations(request.prompt, len(seeds), manager) if options.combinatorial else []
        drawn = [{name: files.draw(template, seed, manager) for name, template in templates.items()}
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
        manager = files.manager()
        for template in _templates(request).values():
            try:
                files.draw(template, 0, manager)
            except WildcardError as exc:
                raise RequestError(str(exc)) from None
