"""Where code passes arguments to a call by name: a small lexer that reads code a line (or a piece) at a time.

`scan(text, state)` reads `text` from where `state` left off (the brackets still open, the string still open) and
returns each identifier that opens an argument of a call (right after its `(` or a `,` at the call's own depth),
with the name called (`BashOperator` for `airflow.BashOperator(`, `dag` for `@dag(`) and what follows it: `=` (a
keyword argument), something else (a positional one), or the text's end (a piece cut there). Strings, f-strings
included, and comments are skipped; a `lambda`'s parameters are not arguments of the call around it. A decoder
keeps the state at the start of the line it is writing and scans only that line for each candidate token
(`dagserve`'s version guard); `dagcore.modules.SeriesTable.keyword_refusal` checks what it finds against what a real
Airflow's classes accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

_NAME = re.compile(r"[A-Za-z_]\w*")
_STRING = re.compile("(?i:[rbuf]{0,2})(\"\"\"|'''|\"|')")
_AFTER = re.compile(r"[ \t\\]*(==|=|\n|$)?")
_OPEN, _CLOSE = "([{", ")]}"

Follows = Literal["keyword", "positional", "end"]


@dataclass(frozen=True)
class Argument:
    callee: str
    name: str
    follows: Follows
    given: frozenset[str] = frozenset()
    """The keywords this call was given before this argument (Python refuses one given twice)."""


@dataclass(frozen=True)
class Frame:
    callee: str | None
    """The name called, for a `(` right after a name; None for a bracket that opens no call."""
    lambdas: int = 0
    """`lambda`s at this depth whose `:` has not come yet: their parameters are not the call's arguments."""
    given: frozenset[str] = frozenset()
    """The keywords given to the call so far."""


@dataclass(frozen=True)
class State:
    """Where a scan stopped: open brackets, innermost last; whether an argument starts next; the quote of a string
    left open (a triple-quoted one spans lines; a cut piece may end inside any)."""

    stack: tuple[Frame, ...] = ()
    at_start: bool = False
    quote: str = ""


START = State()


def scan(text: str, state: State = START, names: set[str] | None = None) -> tuple[list[Argument], State]:
    """The arguments opened in `text`, read from `state`, and the state after it. `names`, where given, gets the
    names the code writes outside strings and comments, neither an attribute (`.x`) nor a keyword given (`x=`)."""
    stack, at_start, quote = list(state.stack), state.at_start, state.quote
    found: list[Argument] = []
    last_name: str | None = None  # the name just before the current position (for `name(`)
    after_dot = False
    i, n = 0, len(text)
    while i < n:
        if quote:
            end = _closing(text, i, quote)
            if end < 0:
                return found, State(tuple(stack), False, quote)
            i, quote, at_start, last_name = end + len(quote), "", False, None
            continue
        char = text[i]
        if char.isspace() or char == "\\":
            i += 1
            continue
        if char == "#":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if string := _STRING.match(text, i):
            quote, i = string[1], string.end()
            continue
        if word := _NAME.match(text, i):
            name, i = word[0], word.end()
            keyword = False
            if stack and name == "lambda":
                stack[-1] = replace(stack[-1], lambdas=stack[-1].lambdas + 1)
            elif at_start and stack and (frame := stack[-1]).callee is not None and not frame.lambdas:
                follows = _follows(text, i)
                found.append(Argument(frame.callee, name, follows, frame.given))
                if keyword := follows == "keyword":
                    stack[-1] = replace(frame, given=frame.given | {name})
            if names is not None and not after_dot and not keyword:
                names.add(name)
            at_start, last_name, after_dot = False, name, False
            continue
        if char in _OPEN:
            callee = last_name if char == "(" else None
            stack.append(Frame(callee))
            at_start = callee is not None
        elif char in _CLOSE:
            if stack:
                stack.pop()
            at_start = False
        elif char == "," and stack:
            at_start = stack[-1].callee is not None and not stack[-1].lambdas
        elif char == ":" and stack and stack[-1].lambdas:
            stack[-1] = replace(stack[-1], lambdas=stack[-1].lambdas - 1)
            at_start = False
        else:
            at_start = False
        last_name, after_dot = None, char == "."
        i += 1
    return found, State(tuple(stack), at_start, "")


def _follows(text: str, i: int) -> Follows:
    after = _AFTER.match(text, i)  # read where the name ends: no copy of the rest of the line
    assert after is not None  # the pattern matches the empty string
    if after[1] in ("", "\n"):
        return "end"  # what follows is on the next line, or not written yet
    return "keyword" if after[1] == "=" else "positional"


def _closing(text: str, at: int, quote: str) -> int:
    """Where the string opened with `quote` closes in `text` from `at` (-1: not in it)."""
    while True:
        end = text.find(quote, at)
        if end < 0 or not _escaped(text, end):
            return end
        at = end + 1


def _escaped(text: str, at: int) -> bool:
    """Whether the quote at `at` is escaped (an odd number of backslashes before it)."""
    backslashes = 0
    while at - 1 - backslashes >= 0 and text[at - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
