"""A1111's prompt syntax, read the way A1111 reads it, so the same prompt means the same thing here.

- `extract_loras`: `<lora:name:weight>` / `<lora:name:te:unet>` tags out of the prompt (A1111 removes every
  `<kind:...>` extra-network tag before anything else sees the text).
- `schedules`: prompt editing `[from:to:when]`, `[to:when]`, `[from::when]` and alternation `[a|b]`
  -> the prompt text for each span of steps (A1111's `get_learned_conditioning_prompt_schedules`).
- `parse_attention`: `(word)`, `((word))`, `(word:1.3)`, `[word]`, `\\(` escapes and `BREAK`
  -> runs of text with their weight (A1111's `parse_prompt_attention`).
- `prompt_hints`: what looks malformed, in words for the UI. Nothing here raises on any text: malformed
  input degrades exactly as it does in A1111 (where A1111 itself raises, we pick the nearest A1111 reading).

No torch here: turning weights into embeddings is `modules.engine.conditioning`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from dataclasses import dataclass

# lark is the one import beyond the standard library allowed here (agreed exception to the DESIGN.md rule):
# prompt editing needs a real parser, and lark's Earley parser is what A1111 itself parses it with, so
# ambiguous and malformed prompts resolve the same way in both.
import lark

log = logging.getLogger(__name__)

BREAK = "BREAK"
BREAK_WEIGHT = -1.0  # parse_attention marks a chunk break as ("BREAK", -1.0), as A1111 does
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

# ---------------------------------------------------------------------------------------------- <lora:...>

# A1111's extra-network tag: `<kind:arg:arg...>`; every such tag is taken out of the prompt text.
_EXTRA_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")
_LORA_KINDS = ("lora", "lyco")  # A1111 reads <lyco:...> (LyCORIS) as a LoRA tag too
_NAMED_ARGS = ("te", "unet", "dyn")


@dataclass(frozen=True)
class LoraTag:
    name: str
    te_weight: float
    unet_weight: float


def _tag_weight(text: str, fallback: float, tag: str, what: str, warnings: list[str]) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        warnings.append(f"{tag}: the {what} '{text}' is not a number; used {fallback:g}. "
                        f"Write it like <lora:name:0.8>.")
        return fallback
    return value


def _lora_from_args(args: str, tag: str, warnings: list[str]) -> LoraTag | None:
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in args.split(":"):
        key, eq, value = item.partition("=")
        if eq and key.strip() in _NAMED_ARGS:
            named[key.strip()] = value
        else:
            positional.append(item)
    name = positional[0].strip() if positional else ""
    if not name:
        warnings.append(f"{tag}: the LoRA has no name; the tag was ignored. Write it like <lora:name:0.8>.")
        return None
    te = 1.0
    if len(positional) > 1:
        te = _tag_weight(positional[1].strip(), 1.0, tag, "weight", warnings)
    if "te" in named:
        te = _tag_weight(named["te"].strip(), te, tag, "te weight", warnings)
    unet = te  # A1111: the UNet weight defaults to the text-encoder weight
    if len(positional) > 2:
        unet = _tag_weight(positional[2].strip(), te, tag, "unet weight", warnings)
    if "unet" in named:
        unet = _tag_weight(named["unet"].strip(), unet, tag, "unet weight", warnings)
    if "dyn" in named or len(positional) > 3:
        warnings.append(f"{tag}: dynamic dimension (dyn) is not supported; the LoRA is applied at full rank.")
    return LoraTag(name=name, te_weight=te, unet_weight=unet)


def extract_loras(prompt: str) -> tuple[str, list[LoraTag], list[str]]:
    """The prompt without its extra-network tags, the LoRA tags in order, and warnings for malformed tags.

    `<lora:name>` weighs 1.0; `<lora:name:w>` sets both weights; `<lora:name:te:unet>` (or `te=`/`unet=`)
    sets them apart. A weight that is not a number counts as 1.0, with a warning. Other tags
    (`<hypernet:...>`) are removed like A1111 does, with a warning that they are not supported.
    """
    loras: list[LoraTag] = []
    warnings: list[str] = []

    def take(match: re.Match[str]) -> str:
        kind, args = match.group(1), match.group(2)
        if kind.lower() in _LORA_KINDS:
            tag = _lora_from_args(args, match.group(0), warnings)
            if tag is not None:
                loras.append(tag)
        else:
            warnings.append(f"{match.group(0)}: '{kind}' networks are not supported; the tag was removed.")
        return ""

    return _EXTRA_NETWORK_TAG.sub(take, prompt), loras, warnings


# ---------------------------------------------------------------------------------------------- [from:to:when]

# Our statement of the prompt-editing grammar. It accepts exactly the language of A1111's grammar, so malformed
# prompts fall back the same way: brackets and colons that make no construct are kept as text (STRAY, only at
# the top level), and anything else that fails (a '|' outside [ ], a trailing backslash) leaves the whole prompt
# unscheduled. Unlike A1111's, it has no nullable item at the top level and no whitespace token competing with
# text, which keeps Earley's ambiguity small: a 1,700-character prompt full of brackets parses in ~1 s instead of
# ~60 s. Checked against A1111's parser on ~50,000 random bracket-heavy prompts: the same schedules, except a
# handful of contrived ones where an empty `[:when]` sits among stray brackets and Earley's choice is arbitrary.
_SCHEDULE_GRAMMAR = r"""
start: (_item | STRAY)*
seq: _item*
_item: group | edit | alt | text
!group: "(" seq ")"
      | "(" seq ":" seq ")"
      | "[" seq "]"
edit: "[" [seq ":"] seq ":" [SPACE] NUMBER [SPACE] "]"
alt: "[" seq ("|" [seq])+ "]"
text: /([^\\\[\]():|]|\\.)+/
STRAY: /[][():]/
SPACE: /\s+/
%import common.SIGNED_NUMBER -> NUMBER
"""


@functools.cache
def _schedule_parser() -> lark.Lark:
    """Built on first use (no work at import time); the parser is immutable, so one per process."""
    return lark.Lark(_SCHEDULE_GRAMMAR)


def _edit_step(number: str, steps: int, decimal_is_fraction: bool) -> int:
    """The last step of an edit's `from` part. Negative means never (the `to` part from the start)."""
    value = float(number)
    if decimal_is_fraction:
        if "." in number:
            value *= steps
    elif value < 1:
        value *= steps
    value = min(float(steps), max(-1.0, value))  # clamps 1e999 too, which A1111 chokes on
    return int(value)


def _walk(tree: lark.Tree):
    """Every subtree, without recursion (a prompt may nest brackets deeper than Python's stack)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in node.children if isinstance(child, lark.Tree))


def _render(node: lark.Tree | lark.Token | None, step: int, when: dict[int, int]) -> str:
    """The text of a parsed prompt at one step (1-based, as in A1111's schedule)."""
    if node is None:
        return ""
    if isinstance(node, lark.Token):
        return str(node)
    if node.data == "edit":
        before, after = node.children[0], node.children[1]
        return _render(before if step <= when[id(node)] else after, step, when)
    if node.data == "alt":
        options = node.children
        return _render(options[(step - 1) % len(options)], step, when)
    return "".join(_render(child, step, when) for child in node.children)


_ESCAPED = re.compile(r"\\.", re.DOTALL)
_SYNTAX = re.compile(r"[][():|]")


def editing_syntax_count(prompt: str) -> int:
    """How many of the grammar's own characters ([ ] ( ) : |, not escaped, outside <lora:...> tags) the prompt
    editing parser has to place: its parse time grows with them (~1-3 ms each). 0 for a prompt without '[',
    which is never parsed (it has nothing to schedule)."""
    text = extract_loras(prompt)[0]
    if "[" not in text:
        return 0
    return len(_SYNTAX.findall(_ESCAPED.sub("", text)))


def _parse_schedule(prompt: str) -> lark.Tree | None:
    try:
        return _schedule_parser().parse(prompt)
    except (lark.exceptions.LarkError, RecursionError) as exc:
        log.debug("prompt editing not parsed, using the prompt as it is: %s", exc)
        return None


def schedules(prompt: str, steps: int, *, decimal_is_fraction: bool = False) -> list[tuple[int, str]]:
    """The prompt's text per span of steps: [(last_step, text), ...], the last pair ending at `steps`.

    `when` below 1 is a fraction of `steps`, from 1 on a step number (A1111's rule, which it keeps as
    "Old prompt editing timelines"; `decimal_is_fraction=True` is A1111 1.6's newer default: any number
    written with a '.' is a fraction, so `1.0` means all steps). Text `i` is used for the 0-based sampler step
    s while s <= last_step_i (see `prompt_at_step`). A prompt that does not parse is used unchanged:
    [(steps, prompt)].

    >>> schedules("a [b:c:0.5] d", 10)
    [(5, 'a b d'), (10, 'a c d')]
    """
    if "[" not in prompt:  # no edit or alternation without '[': the parse would give the prompt back as it is
        return [(steps, prompt)]
    tree = _parse_schedule(prompt)
    if tree is None:
        return [(steps, prompt)]
    ends = {steps}
    when: dict[int, int] = {}
    for node in _walk(tree):
        if node.data == "edit":
            when[id(node)] = _edit_step(str(node.children[3]), steps, decimal_is_fraction)
            if when[id(node)] >= 1:  # a switch at step 0 or before: `to` from the start
                ends.add(when[id(node)])
        elif node.data == "alt":
            ends.update(range(1, steps + 1))
    try:
        return [(end, _render(tree, end, when)) for end in sorted(ends)]
    except RecursionError:
        return [(steps, prompt)]


def prompt_at_step(schedule: list[tuple[int, str]], step: int) -> str:
    """A1111's choice of text for 0-based sampler step `step`: the first span with step <= last_step."""
    for end, text in schedule:
        if step <= end:
            return text
    return schedule[-1][1]


# ---------------------------------------------------------------------------------------------- (word:1.3)

_ATTENTION_TOKEN = re.compile(r"""
    \\[()\[\]\\]            # an escaped bracket or backslash: that character as text
  | \\                      # a lone backslash: dropped
  | [(\[]                   # opening bracket
  | :(?P<weight>[+-]?[.\d]+)\)  # ':1.3)' closes a round bracket with that weight
  | [)\]]                   # closing bracket
  | [^\\()\[\]:]+           # text
  | :                       # a colon that is not a weight: text
""", re.VERBOSE)
_BREAK_SPLIT = re.compile(r"\s*\bBREAK\b\s*", re.DOTALL)  # A1111's; quadratic on long runs of spaces
_BREAK = re.compile(r"\bBREAK\b")


def _split_breaks(piece: str) -> list[str]:
    """_BREAK_SPLIT.split(piece) in linear time: split at each BREAK, then strip the whitespace next to it
    (the regex's whitespace and str.strip's are the same). The regex took seconds on 10,000 spaces."""
    parts = _BREAK.split(piece)
    last = len(parts) - 1
    return [part if last == 0 else part.rstrip() if i == 0 else part.lstrip() if i == last else part.strip()
            for i, part in enumerate(parts)]


@dataclass(frozen=True)
class _Issue:
    position: int
    message: str


def _attention(text: str) -> tuple[list[tuple[str, float]], list[_Issue]]:
    runs: list[list] = []  # [text, weight] pairs, mutable while brackets close
    issues: list[_Issue] = []
    open_round: list[tuple[int, int]] = []  # (index into runs, position in text)
    open_square: list[tuple[int, int]] = []

    def scale(first: int, factor: float) -> None:
        for run in runs[first:]:
            run[1] *= factor

    def add_text(piece: str) -> None:
        for i, part in enumerate(_split_breaks(piece)):
            if i:
                runs.append([BREAK, BREAK_WEIGHT])
            runs.append([part, 1.0])

    for match in _ATTENTION_TOKEN.finditer(text):
        token, number, at = match.group(0), match.group("weight"), match.start()
        if token.startswith("\\"):
            runs.append([token[1:], 1.0])
        elif token == "(":
            open_round.append((len(runs), at))
        elif token == "[":
            open_square.append((len(runs), at))
        elif number is not None and open_round:
            try:
                weight = float(number)
            except ValueError:
                weight = math.nan
            if math.isfinite(weight):
                scale(open_round.pop()[0], weight)
            else:  # A1111 raises here; we read it the way it reads any other non-number after ':'
                issues.append(_Issue(at, f"'{number}' is not a weight; '(text:{number})' was read as text "
                                         f"with weight 1.1. Write weights like (text:1.3)."))
                add_text(token[:-1])
                scale(open_round.pop()[0], ROUND_MULTIPLIER)
        elif token == ")" and open_round:
            scale(open_round.pop()[0], ROUND_MULTIPLIER)
        elif token == "]" and open_square:
            scale(open_square.pop()[0], SQUARE_MULTIPLIER)
        else:
            if token in (")", "]") or token.endswith(")"):
                issues.append(_Issue(at + len(token) - 1, f"'{token[-1]}' closes nothing and is read as text; "
                                                          f"write \\{token[-1]} for a literal bracket."))
            add_text(token)

    for start, at in open_round:
        issues.append(_Issue(at, "'(' is never closed; it weighs everything after it by 1.1. "
                                 "Add ')' or write \\( for a literal bracket."))
        scale(start, ROUND_MULTIPLIER)
    for start, at in open_square:
        issues.append(_Issue(at, "'[' is never closed; it weighs everything after it by 1/1.1. "
                                 "Add ']' or write \\[ for a literal bracket."))
        scale(start, SQUARE_MULTIPLIER)

    if not runs:
        runs = [["", 1.0]]
    merged: list[list] = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1]:
            merged[-1][0] += run[0]
        else:
            merged.append(run)
    return [(t, w) for t, w in merged], issues


def parse_attention(text: str) -> list[tuple[str, float]]:
    """Runs of text with their attention weight; `("BREAK", -1.0)` marks a chunk break.

    `(a)` x1.1, `[a]` /1.1, `(a:1.3)` x1.3, nested brackets multiply; `\\(` `\\)` `\\[` `\\]` `\\\\` are literal;
    an unclosed bracket weighs everything after it; a stray closer is text. Runs of equal weight merge.

    >>> parse_attention('an (important) word')
    [('an ', 1.0), ('important', 1.1), (' word', 1.0)]
    """
    return _attention(text)[0]


# ---------------------------------------------------------------------------------------------- hints

_SIGNED_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_SPACED_WEIGHT = re.compile(r":(\s*)([+-]?[.\d]+)(\s*)\)")
_INNER_SQUARE = re.compile(r"(?<!\\)\[([^\[\]]*)(?<!\\)\]")
_AND = re.compile(r"\bAND\b")


def _where(text: str, position: int) -> str:
    start = max(0, position - 12)
    snippet = text[start:position + 12].replace("\n", " ")
    return f"at {position + 1} ('{'…' if start else ''}{snippet}{'…' if position + 12 < len(text) else ''}')"


def prompt_hints(prompt: str) -> list[str]:
    """Plain-language hints about what in a prompt looks malformed (empty when all is well). Never raises."""
    try:
        return _hints(prompt)
    except Exception:  # a hint must never break generation; the prompt itself still works
        log.exception("could not compute prompt hints for %r", prompt[:200])
        return []


def _hints(prompt: str) -> list[str]:
    text, _, hints = extract_loras(prompt)
    for match in _SPACED_WEIGHT.finditer(text):
        if match.group(1) or match.group(3):
            hints.append(f"{_where(text, match.start())}: no spaces around a weight - A1111 reads "
                         f"'{match.group(0)}' as text. Write :{match.group(2)}).")
    for match in _INNER_SQUARE.finditer(text):
        inner = match.group(1)
        if ":" in inner and "|" not in inner:
            when = inner.rsplit(":", 1)[1].strip()
            if not _SIGNED_NUMBER.fullmatch(when):
                hints.append(f"{_where(text, match.start())}: prompt editing needs a number after the last ':' "
                             f"([from:to:when]); '{when}' is not one, so '{match.group(0)}' is read as text.")
    if "[" in text and _parse_schedule(text) is None:
        hints.append("Prompt editing ([from:to:when], [a|b]) could not be read, so the prompt is used as written "
                     "for every step. Look for a '|' outside [ ] or a trailing '\\'.")
    runs, issues = _attention(text)
    hints.extend(f"{_where(text, issue.position)}: {issue.message}" for issue in issues)
    if any(t == BREAK and w != BREAK_WEIGHT for t, w in runs):
        hints.append("BREAK inside brackets is not a chunk break: A1111 reads it as a word with a negative "
                     "weight. Move BREAK outside the brackets.")
    if _AND.search(text):
        hints.append("AND (composable diffusion) is not supported; it is read as an ordinary word.")
    return hints
