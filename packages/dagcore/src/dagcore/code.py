"""The one rule for the code in a model's answer, used by the generator, the repair loop and the judge."""

from __future__ import annotations

import re

_PYTHON_TAGS = frozenset({"python", "py", "python3", ""})
# A line that only code starts with: bare code without fences is still code (its syntax is judged later).
_CODE_LINE = re.compile(r"^\s*(?:from\s+\S+\s+import\s|import\s+\w|def\s|class\s|with\s|@\w|\w+\s*=)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order; an unclosed last fence (a cut-off answer) runs to the end."""
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


def extract_code(answer: str) -> str | None:
    """The Python file in an answer: the longest Python (or untagged) fenced block, the first of equals;
    else the whole answer when a line of it is code; None when there is no code. Ends with one newline."""
    blocks = [body for language, body in fenced_blocks(answer) if language in _PYTHON_TAGS]
    if blocks:
        # Several blocks: the longest is the DAG file, not a pip or shell snippet (max keeps the first of equals).
        return max(blocks, key=len).rstrip() + "\n"
    if any(_CODE_LINE.match(line) for line in answer.splitlines()):
        return answer.rstrip() + "\n"
    return None
