"""Level 1: the code out of a raw completion (fences, prose, several blocks, none), and cut-off answers."""

from __future__ import annotations

import ast

from dagcore import extract_code
from dageval.models import Level, LevelResult


def extract(completion: str, finish_reason: str | None = None) -> tuple[str, LevelResult]:
    """The code of a completion (dagcore's one rule, as the generator uses it) and the extract-level result."""
    code = extract_code(completion)
    if code is None:
        return "", LevelResult(level=Level.EXTRACT, ok=False, category="no_code", message="no code in the answer")
    if finish_reason == "length":
        return code, LevelResult(
            level=Level.EXTRACT, ok=False, category="truncated", message="the answer stopped at the token limit"
        )
    # A model that stopped on its own did not run out of tokens: unclosed code is then its syntax error.
    if finish_reason != "stop" and _cut_off(code):
        return code, LevelResult(
            level=Level.EXTRACT, ok=False, category="truncated", message="the code stops mid-statement"
        )
    return code, LevelResult(level=Level.EXTRACT, ok=True)


def _cut_off(code: str) -> bool:
    """Code that ends mid-statement: the parser runs out of input at the end, not at a bad token inside."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        last = code.rstrip("\n").count("\n") + 1
        message = str(e.msg)
        at_end = (e.end_lineno or e.lineno or 0) >= last
        eof = any(m in message for m in ("never closed", "unexpected EOF", "expected an indented block"))
        return eof and at_end
    return False
