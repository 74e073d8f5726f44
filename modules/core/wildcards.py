"""Dynamic prompts: `{a|b|c}` variants and `__name__` wildcards drawn into a plain A1111 prompt. Pure: no files.

The syntax is the Dynamic Prompts extension's (adieyal/sd-dynamic-prompts), so prompts and wildcard packs
written for it work here:
- `{a|b|c}` one option; `{2$$a|b|c}` two distinct ones; `{1-3$$a|b|c}` one to three; `{2$$ and $$a|b|c}` joined
  by " and " (", " otherwise); `{0.5::a|2::b}` weighted options; variants nest.
- `__name__` a random line of the wildcard `name` (`__sub/name__` in a subfolder, `__colors*__` a glob); the
  line is itself a template. `{2$$__colors__}` draws two distinct lines.
- `\\{`, `\\}`, `\\|` and `\\_` are literal (A1111 never gives `{}` a meaning, so they reach the model as written).

A1111's own `[a|b]` alternation is left alone: a `|` inside `[...]` never splits a variant.
Wildcard files are looked up through a callable the service layer passes in (`Lookup`), so this module stays pure.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Lookup = Callable[[str], list[str]]  # wildcard name -> its lines; raises WildcardError when there is none

MAX_DEPTH = 20  # wildcards that name each other would otherwise recurse for ever
WILDCARD = re.compile(r"__([A-Za-z0-9*][\w\-./*]*?)__")
_COUNT = re.compile(r"^\s*(\d*)\s*(?:-\s*(\d*)\s*)?$")
_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)::")


class WildcardError(ValueError):
    """A template that cannot be drawn: the message names the wildcard or the position, and the fix."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Wildcard:
    name: str


@dataclass(frozen=True)
class Variants:
    options: tuple[tuple[float, tuple], ...]  # (weight, sequence of nodes)
    low: int = 1
    high: int = 1
    separator: str = ", "


def is_dynamic(template: str) -> bool:
    """Whether the template has anything to draw (variants or wildcards)."""
    return bool(WILDCARD.search(template)) or bool(re.search(r"(?<!\\)\{", template))


def _split_top(body: str, start: int) -> list[str]:
    """`body` split at `|` outside nested `{}` and `[]` (A1111's alternation keeps its bars)."""
    parts, depth, square, begin, i = [], 0, 0, 0, 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        depth += char == "{"
        depth -= char == "}"
        square += char == "["
        square -= char == "]" and square > 0
        if char == "|" and depth == 0 and square == 0:
            parts.append(body[begin:i])
            begin = i + 1
        i += 1
    parts.append(body[begin:])
    return parts


def _closing(template: str, start: int) -> int:
    depth, i = 0, start
    while i < len(template):
        if template[i] == "\\":
            i += 2
            continue
        depth += template[i] == "{"
        depth -= template[i] == "}"
        if depth == 0:
            return i
        i += 1
    raise WildcardError(f"The prompt has a '{{' at character {start + 1} that is never closed by '}}'. Close it, or "
                        "write \\{ for a literal brace.")


def _variants(body: str, start: int) -> Variants:
    low = high = 1
    separator = ", "
    pieces = body.split("$$")
    if len(pieces) >= 2 and _COUNT.match(pieces[0]) and pieces[0].strip():
        first, second = _COUNT.match(pieces[0]).groups()
        if "-" in pieces[0]:  # "1-3", "-3" (up to 3), "2-" (2 or more)
            low, high = int(first or 1), int(second) if second else 10_000
        else:
            low = high = int(first)
        if len(pieces) >= 3 and not set("{|}") & set(pieces[1]):  # else the `$$` belongs to a nested variant
            separator, body = pieces[1], "$$".join(pieces[2:])
        else:
            body = "$$".join(pieces[1:])
        if low > high:
            raise WildcardError(f"The variant at character {start + 1} asks for {low}-{high} options: the first "
                                "number must not be larger than the second.")
    options = []
    for part in _split_top(body, start):
        weight = 1.0
        match = _WEIGHT.match(part)
        if match:
            weight, part = float(match.group(1)), part[match.end():]
        options.append((weight, parse(part)))
    return Variants(tuple(options), low, high, separator)


def parse(template: str) -> tuple:
    """The template as a sequence of Text, Wildcard and Variants nodes."""
    nodes: list = []
    text: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and i + 1 < len(template) and template[i + 1] in "{}|_":
            text.append(template[i + 1])
            i += 2
            continue
        if char == "{":
            end = _closing(template, i)
            nodes.append(Text("".join(text)))
            text = []
            nodes.append(_variants(template[i + 1:end], i))
            i = end + 1
            continue
        if char == "}":
            raise WildcardError(f"The prompt has a '}}' at character {i + 1} with no '{{' before it. Remove it, or "
                                "write \\} for a literal brace.")
        match = WILDCARD.match(template, i) if char == "_" else None
        if match:
            nodes.append(Text("".join(text)))
            text = []
            nodes.append(Wildcard(match.group(1)))
            i = match.end()
            continue
        text.append(char)
        i += 1
    nodes.append(Text("".join(text)))
    return tuple(n for n in nodes if not (isinstance(n, Text) and not n.text))


def _options(node: Variants, lookup: Lookup) -> list[tuple[float, tuple]]:
    """`{2$$__colors__}`: a lone wildcard's lines become the options."""
    if len(node.options) == 1 and len(node.options[0][1]) == 1 and isinstance(node.options[0][1][0], Wildcard):
        return [(1.0, parse(line)) for line in lookup(node.options[0][1][0].name)]
    return list(node.options)


def _draw_seq(nodes: tuple, rng: random.Random, lookup: Lookup, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise WildcardError(f"Wildcards nest more than {MAX_DEPTH} deep: one of them probably names itself.")
    out = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Wildcard):
            out.append(_draw_seq(parse(rng.choice(lookup(node.name))), rng, lookup, depth + 1))
        else:
            options = _options(node, lookup)
            count = rng.randint(min(node.low, len(options)), min(node.high, len(options)))
            chosen = []
            pool = list(options)
            for _ in range(count):  # weighted, without replacement
                pick = rng.choices(range(len(pool)), weights=[w for w, _ in pool])[0]
                chosen.append(pool.pop(pick)[1])
            out.append(node.separator.join(_draw_seq(seq, rng, lookup, depth + 1) for seq in chosen))
    return "".join(out)


def draw(template: str, seed: int, lookup: Lookup) -> str:
    """One prompt drawn at random; the same seed always draws the same prompt (Dynamic Prompts' random mode)."""
    return _draw_seq(parse(template), random.Random(seed), lookup, 0)


def _all_seq(nodes: tuple, lookup: Lookup, depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        raise WildcardError(f"Wildcards nest more than {MAX_DEPTH} deep: one of them probably names itself.")
    if not nodes:
        yield ""
        return
    head, rest = nodes[0], nodes[1:]
    for first in _all_node(head, lookup, depth):
        for tail in _all_seq(rest, lookup, depth):
            yield first + tail


def _all_node(node: object, lookup: Lookup, depth: int) -> Iterator[str]:
    if isinstance(node, Text):
        yield node.text
    elif isinstance(node, Wildcard):
        for line in lookup(node.name):
            yield from _all_seq(parse(line), lookup, depth + 1)
    else:
        assert isinstance(node, Variants)
        options = [seq for _, seq in _options(node, lookup)]
        for count in range(min(node.low, len(options)), min(node.high, len(options)) + 1):
            for combo in itertools.combinations(options, count):
                for parts in itertools.product(*(list(_all_seq(seq, lookup, depth + 1)) for seq in combo)):
                    yield node.separator.join(parts)


def combinations(template: str, lookup: Lookup, limit: int) -> list[str]:
    """Every prompt the template can make, in order, at most `limit` (Dynamic Prompts' combinatorial mode)."""
    return list(itertools.islice(_all_seq(parse(template), lookup, 0), limit))
