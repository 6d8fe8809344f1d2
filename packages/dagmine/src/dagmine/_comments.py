"""Comment-only cleaning without libcst, for files that have no test harness.

Most DAG files only need their licence header and doc markers removed. Comments are not part of the
program, so deleting whole comment lines (never lines inside a string) keeps the program exactly;
it is 20x cheaper than a libcst round trip. Anything less plain (a marker after code on a line)
returns None and goes the libcst way. Tests check both ways give the same text.
"""

from __future__ import annotations

import ast
import re

from dagmine._harness import DOC_MARKER

_LICENCE = re.compile(r"Licensed to the Apache Software Foundation|Apache License, Version 2\.0")
_ANY_MARKER = re.compile(r"#\s*\[(?:START|END)\s")


def _string_lines(tree: ast.Module) -> set[int]:
    """Lines that lie inside a multi-line string: text there is data, even if it looks like a comment."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant | ast.JoinedStr) and node.end_lineno and node.end_lineno > node.lineno:
            inside.update(range(node.lineno + 1, node.end_lineno + 1))
    return inside


def _first_code_line(tree: ast.Module, total: int) -> int:
    if not tree.body:
        return total + 1
    first = tree.body[0]
    decorators: list[ast.expr] = getattr(first, "decorator_list", [])
    return min([first.lineno, *(d.lineno - 1 for d in decorators)])


def _licence_block(lines: list[str], limit: int) -> range | None:
    """Line indexes (0-based) of the licence comment block and the blank lines after it."""
    is_comment = [line.lstrip().startswith("#") for line in lines[:limit]]
    hits = [i for i in range(limit) if is_comment[i] and _LICENCE.search(lines[i])]
    if not hits:
        return None
    start = end = hits[0]
    while start > 0 and is_comment[start - 1] and not lines[start - 1].startswith("#!"):
        if "coding" in lines[start - 1]:  # keep a PEP 263 encoding line
            break
        start -= 1
    while end + 1 < limit and is_comment[end + 1]:
        end += 1
    while end + 1 < limit and not lines[end + 1].strip():
        end += 1
    return range(start, end + 1)


def strip_comments(code: str, tree: ast.Module) -> tuple[str, list[str]] | None:
    """`code` without licence header and doc-marker lines, and the steps taken; None if not plain enough."""
    lines = code.splitlines(keepends=True)
    in_string = _string_lines(tree)
    drop: set[int] = set()
    steps: list[str] = []
    licence = _licence_block(lines, min(_first_code_line(tree, len(lines)) - 1, len(lines)))
    if licence is not None:
        drop.update(licence)
        steps.append("licence_header")
    markers = 0
    for i, line in enumerate(lines):
        if i + 1 in in_string or not _ANY_MARKER.search(line):
            continue
        stripped = line.strip()
        if not stripped.startswith("#"):
            return None  # a marker after code on the same line: libcst handles that
        if DOC_MARKER.match(stripped):
            drop.add(i)
            markers += 1
    if markers:
        steps.append("doc_markers")
    if not drop:
        return code, steps
    return _join(lines, drop, in_string), steps


def _join(lines: list[str], drop: set[int], in_string: set[int]) -> str:
    """Lines without `drop`; where a run of comment and blank lines lost a line, at most two blanks in a row."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        # A group: consecutive blank or comment-only lines outside strings (the lines between two statements).
        j = i
        while j < len(lines) and j + 1 not in in_string and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
            j += 1
        if j == i:
            if i not in drop:
                out.append(lines[i])
            i += 1
            continue
        group = [k for k in range(i, j) if k not in drop]
        touched = len(group) != j - i
        blanks = 0
        for k in group:
            blank = not lines[k].strip()
            blanks = blanks + 1 if blank else 0
            if touched and blank and blanks > 2:
                continue
            out.append(lines[k])
        i = j
    return "".join(out)


def collapse_blank_runs(code: str, tree: ast.Module) -> str:
    """At most two blank lines in a row outside strings: removed statements and comments can leave more."""
    in_string = _string_lines(tree)
    out: list[str] = []
    blanks = 0
    for number, line in enumerate(code.splitlines(keepends=True), start=1):
        blank = not line.strip() and number not in in_string
        blanks = blanks + 1 if blank else 0
        if blanks <= 2:
            out.append(line)
    return "".join(out)
