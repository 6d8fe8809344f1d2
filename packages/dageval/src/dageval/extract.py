"""Level 1: the code out of a raw completion (fences, prose, several blocks, none), and cut-off answers."""

from __future__ import annotations

import ast
import re

from dageval.models import Level, LevelResult

_PYTHON = {"python", "py", "python3", ""}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order; an unclosed last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("```"):
            if language is None:
                language = stripped[3:].strip().lower()
                body = []
            else:
                blocks.append((language, "".join(body)))
                language = None
            continue
        if language is not None:
            body.append(line)
    if language is not None:
        blocks.append((language, "".join(body)))
    return blocks


_CODE_LINE = re.compile(r"^\s*(?:from\s+\S+\s+import\s|import\s+\w|def\s|class\s|with\s|@\w|\w+\s*=)")


def extract(completion: str, finish_reason: str | None = None) -> tuple[str, LevelResult]:
    """The code of a completion and the extract-level result."""
    blocks = [(lang, body) for lang, body in fenced_blocks(completion) if lang in _PYTHON]
    if blocks:
        # Several blocks: the longest Python one is the DAG file (not a shell or pip snippet).
        code = max((body for _, body in blocks), key=len)
    elif any(_CODE_LINE.match(line) for line in completion.splitlines()):
        code = completion  # bare code, no fences
    else:
        return "", LevelResult(level=Level.EXTRACT, ok=False, category="no_code", message="no code in the answer")
    code = code.rstrip() + "\n"
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
