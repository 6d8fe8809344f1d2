"""`fix_quotes()`: mend the string a small model broke by nesting double quotes inside it.

A shell command's quoted text inside a double-quoted argument, unescaped, is the largest single syntax error of the
laptop model: `bash_command="echo "Report ready.")` (9 of the 12 syntax errors in its 40 benchmark answers of
2026-12-06, 23 of 200 written dev answers). The intent is plain: the inner quotes belong to the shell. Like
`fix_imports`, a deterministic pass after generation, never mixed into what a model is measured on by itself.

Only lines Python's parser rejects are touched, and on them only a keyword argument's string value that runs to the
line's closing brackets: its inner double quotes become single ones (a closing one is added where the model wrote an
odd number). The mended file is kept only when it parses as a whole; otherwise the code comes back unchanged.
"""

from __future__ import annotations

import ast
import re

from pydantic import BaseModel

# A keyword argument's opening quote (`bash_command="`, `sql=f"`), and the line's end after the value's closing
# quote: only brackets, commas and a comment may follow it.
_OPENING = re.compile(r"\b(?P<key>[A-Za-z_]\w*)\s*=\s*[rRfF]?\"(?!\"\")")
_CLOSING = re.compile(r"\"(?P<tail>[\s,)\]}]*(?:#.*)?)$")
_MAX_LINES = 20  # an answer with more broken lines than this is not one habit


class FixedQuotes(BaseModel):
    code: str
    changes: list[str]
    """What was mended, one line each (`line 17: bash_command's inner double quotes made single`)."""


def fix_quotes(code: str) -> FixedQuotes:
    """`code` with each keyword argument's unescaped inner double quotes made single, where that is what stops it
    parsing; unchanged (with no changes) when it parses already or the mend does not make the whole file parse."""
    lines = code.split("\n")
    changes: list[str] = []
    last = 0
    for _ in range(_MAX_LINES):
        error = _syntax_error("\n".join(lines))
        if error is None:
            return FixedQuotes(code="\n".join(lines), changes=changes)
        # The error's line, or for an unterminated string the line it starts on; never one mended already.
        at = (error.lineno or 0) - 1
        if not 0 <= at < len(lines) or at < last:
            break
        mended = _mend(lines[at])
        if mended is None:
            break
        lines[at], key = mended
        changes.append(f"line {at + 1}: {key}'s inner double quotes made single")
        last = at + 1
    return FixedQuotes(code=code, changes=[])


def _syntax_error(code: str) -> SyntaxError | None:
    try:
        ast.parse(code)
    except SyntaxError as error:
        return error
    except ValueError:  # null bytes: nothing a quote mend can help
        return SyntaxError("unparseable")
    return None


def _mend(line: str) -> tuple[str, str] | None:
    """The line with the right-most keyword string whose value holds bare double quotes mended, and that keyword;
    None where no keyword's value does."""
    closing = _CLOSING.search(line)
    if closing is None:
        return None
    for opening in reversed(list(_OPENING.finditer(line))):
        if opening.end() > closing.start():
            continue
        body = line[opening.end() : closing.start()]
        if '"' not in body or "\\" in body:
            continue
        single = body.replace('"', "'")
        if body.count('"') % 2:
            single += "'"  # `"echo "text")`: the model closed the shell's quote and Python's with one
        head = line[: opening.end()]
        return f'{head}{single}"{closing.group("tail")}', opening.group("key")
    return None
