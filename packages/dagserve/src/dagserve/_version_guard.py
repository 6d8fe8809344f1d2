"""Version-guided decoding: what an answer takes from Airflow must exist in the version it targets.

`VersionGuard` reads the answer as it is written, one statement at a time, and asks `dagcore.modules.SeriesTable`
(what a real install of the series has) whether the text so far can still be right. In a statement that starts
`from ` or `import `: a real module and real names (`from airflow.providers.amazon.red` cannot be: amazon's modules
are all under `aws`; nor `from airflow.sdk import Em` in Airflow 3). In any other line: `trigger_rule=` given a
string or a `TriggerRule.` member the series has (Airflow checks it when the file is imported). And, line by line
with `dagcore.arguments`' lexer, each argument passed by name to an operator, a sensor, `DAG`, `@dag`, `Asset` or
`TaskGroup` must be one the series' class takes (`DAG(deferrable=True)` fails at import): a name that opens such an
argument must be the start of one of its keywords, or of a name written before where it takes positional ones. The
decoder then takes the model's next best token that keeps it possible. Docstrings, comments, strings and modules
outside `airflow` are never checked.

The same interface as `dagserve._names.NameGuard` (`allows`, `accept`, `give_up`), so `Guards` can ask both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dagcore.arguments import START, Argument, scan
from dagcore.modules import SeriesTable, without_comments

_TRIPLES = ('"""', "'''")


class Guard(Protocol):
    def allows(self, text: str) -> bool: ...
    def accept(self, text: str) -> None: ...
    def give_up(self) -> None: ...


class VersionGuard:
    """One answer's monitor for one Airflow series (`table`): its imports, trigger rules and, with `keywords`, the
    keyword arguments its calls pass to Airflow's classes."""

    __slots__ = ("_args", "_given_up", "_keywords", "_known", "_line", "_physical", "_string", "_table")

    def __init__(self, table: SeriesTable, *, keywords: bool = True) -> None:
        self._table = table
        self._keywords = keywords
        self._args = START
        """`dagcore.arguments`' state where the physical line being written starts (brackets open, strings open)."""
        self._physical = ""
        """The physical line being written, as accepted so far."""
        self._known: frozenset[str] = frozenset()
        """The names the code wrote on the lines before (not in strings or comments, not attributes or keywords
        given): a positional argument may be one (`DAG(DAG_ID, ...)`)."""
        self._line = ""
        """The statement being written: from its line's start, over the lines an open bracket or `\\` joins."""
        self._string = ""
        """The triple quote a docstring was opened with, while inside it."""
        self._given_up = False
        """No continuation of the statement was allowed: it is let through until it ends."""

    def allows(self, text: str) -> bool:
        if self._given_up and "\n" not in text:
            return True
        return self._scan(text, commit=False)

    def accept(self, text: str) -> None:
        self._scan(text, commit=True)

    def give_up(self) -> None:
        self._given_up = True

    def _scan(self, text: str, *, commit: bool) -> bool:
        line, string, given_up = self._line, self._string, self._given_up
        args, physical, known = self._args, self._physical, self._known
        ok = True
        *ended, last = text.split("\n")
        for piece in ended:  # each line break in `text`
            line += piece
            physical += piece
            if self._keywords:
                written: set[str] = set()
                found, args = scan(physical + "\n", args, written)
                if not given_up and self._argument_refused(found, complete=True, known=known):
                    ok = False
                known, physical = known | written, ""
            if not string and _continues(line):
                line += "\n"
                continue
            if not string and not given_up and self._refused(line, complete=True):
                ok = False
            string, line, given_up = _string_after(line, string), "", False
        line += last
        physical += last
        if not string and not given_up and self._refused(line, complete=False):
            ok = False
        if self._keywords and ok and not given_up and physical:
            found, _ = scan(physical, args)
            ok = not self._argument_refused(found, complete=False, known=known)
        if commit:
            self._line, self._string, self._given_up = line, string, given_up
            self._args, self._physical, self._known = args, physical, known
        return ok

    def _argument_refused(self, found: list[Argument], *, complete: bool, known: frozenset[str]) -> bool:
        return any(self._table.argument_refusal(a, complete=complete, known=known) is not None for a in found)

    def _refused(self, statement: str, *, complete: bool) -> bool:
        code = statement.lstrip()
        if code.startswith(("from ", "import ")):
            return self._table.refusal(code, complete=complete) is not None
        return self._table.value_refusal(without_comments(code), complete=complete) is not None


class Guards:
    """Several guards as one: text is allowed where each allows it, and each reads what is accepted."""

    __slots__ = ("guards",)

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.guards = tuple(guards)

    def allows(self, text: str) -> bool:
        return all(g.allows(text) for g in self.guards)

    def accept(self, text: str) -> None:
        for g in self.guards:
            g.accept(text)

    def give_up(self) -> None:
        for g in self.guards:
            g.give_up()


def _continues(line: str) -> bool:
    """Whether an import statement goes on past this line (an open bracket or a trailing backslash)."""
    code = without_comments(line)
    return code.lstrip().startswith(("from ", "import ")) and (code.count("(") > code.count(")") or code.endswith("\\"))


def _string_after(line: str, string: str) -> str:
    """The triple quote still open after `line` (a docstring's lines are never statements)."""
    at = 0
    while True:
        if string:
            end = line.find(string, at)
            if end < 0:
                return string
            at, string = end + 3, ""
            continue
        found = [(line.find(q, at), q) for q in _TRIPLES if line.find(q, at) >= 0]
        if not found:
            return ""
        at, string = min(found)
        at += 3
