"""Clean a DAG file with libcst: the same program, minus licence header, doc markers and test harness.

libcst keeps every byte we do not touch. Walking all of a file's nodes in Python costs more than
parsing it, so the walk is targeted: comments are filtered statement by statement, and only the
statements that ast says touch the harness (or hold a marker inside them) get the full transformer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

import libcst as cst
from pydantic import BaseModel

from dagmine._comments import collapse_blank_runs, strip_comments
from dagmine._detect import shallow_nodes
from dagmine._harness import DOC_MARKER, TEST_PHASE, HarnessRemover, Plan, make_plan
from dagmine._prune import bound_imports, ensure_import_os, names_to_prune, prune

_LICENCE = re.compile(r"Licensed to the Apache Software Foundation|Apache License, Version 2\.0")
_MARKER_LINE = re.compile(r"#\s*(?:\[(?:START|END)\s|TEST (?:SETUP|BODY|TEARDOWN)\b)")
_COMMENT_STEPS = {"doc_markers", "test_comments"}


class CleanResult(BaseModel):
    code: str
    steps: list[str]
    """Cleaning steps that changed something, in a fixed order."""


class _Walker:
    """Statement-level walk that hands only the statements that need it to the harness remover."""

    def __init__(self, plan: Plan, remover: HarnessRemover, lines: list[str], nodes: list[ast.AST]) -> None:
        self.plan = plan
        self.remover = remover
        self.harness_phase = bool(plan.harness)
        names = plan.harness | set(plan.constants) | {"get_test_env_id"}
        if remover.recover:
            names |= {"environ", "getenv"}
        # Lines that hold something the remover acts on: a marker comment, a harness name, a test import.
        self.hot_lines = {i for i, line in enumerate(lines, start=1) if _MARKER_LINE.search(line)}
        for node in nodes:
            if (
                (isinstance(node, ast.Name) and node.id in names)
                or (isinstance(node, ast.Attribute) and node.attr in names)
                or (
                    isinstance(node, ast.ImportFrom)
                    and node.module
                    and node.level == 0
                    and any((a.asname or a.name) in plan.test_imports for a in node.names)
                )
            ):
                self.hot_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))

    # --- comments at statement level ----------------------------------------------------------------
    def _keep_line(self, line: cst.EmptyLine) -> bool:
        comment = line.comment.value if line.comment else ""
        if DOC_MARKER.match(comment):
            self.remover.steps["doc_markers"] += 1
            return False
        if self.harness_phase and TEST_PHASE.match(comment):
            self.remover.steps["test_comments"] += 1
            return False
        return True

    def lines(self, lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
        kept = [line for line in lines if self._keep_line(line)]
        if len(kept) == len(lines):
            return list(lines)
        # A removed comment between blank lines must not leave a run of more than two.
        out: list[cst.EmptyLine] = []
        for line in kept:
            if line.comment is None and len(out) >= 2 and out[-1].comment is None and out[-2].comment is None:
                continue
            out.append(line)
        return out

    # --- which statements need the full transformer -------------------------------------------------
    def _hot(self, first: int, last: int) -> bool:
        return any(line in self.hot_lines for line in range(first, last + 1))

    def _simple_needs(self, nodes: list[ast.stmt]) -> bool:
        if not nodes:
            return True
        return self._hot(nodes[0].lineno, max(n.end_lineno or n.lineno for n in nodes))

    def _header_needs(self, node: ast.stmt) -> bool:
        # The header ends where its last expression does; comments after it lead the first body statement.
        header_last = max(
            (getattr(n, "end_lineno", None) or 0 for n in shallow_nodes(node) if n is not node), default=node.lineno
        )
        return self._hot(node.lineno, max(header_last, node.lineno))

    # --- the walk ------------------------------------------------------------------------------------
    def block(self, stmts: Sequence[cst.BaseStatement], nodes: list[ast.stmt]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        i = 0
        for stmt in stmts:
            new: _Visited
            if isinstance(stmt, cst.SimpleStatementLine):
                stmt = stmt.with_changes(leading_lines=self.lines(stmt.leading_lines))
                mine = nodes[i : i + len(stmt.body)]
                i += len(stmt.body)
                new = self._full(stmt) if self._simple_needs(mine) else stmt
            else:
                assert isinstance(stmt, cst.BaseCompoundStatement)
                stmt = stmt.with_changes(leading_lines=self.lines(stmt.leading_lines))
                node = nodes[i] if i < len(nodes) else None
                i += 1
                new = self._compound(stmt, node)
            if isinstance(new, cst.BaseStatement):
                out.append(new)
            elif isinstance(new, cst.FlattenSentinel):
                out.extend(new)
        return out

    def _full(self, stmt: cst.BaseStatement) -> _Visited:
        return stmt.visit(self.remover)

    def _compound(self, stmt: cst.BaseCompoundStatement, node: ast.stmt | None) -> _Visited:
        """Walk into the blocks of a compound statement whose header needs nothing; else transform it whole."""
        if node is None or self._header_needs(node):
            return self._full(stmt)
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef | cst.With) and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.With | ast.AsyncWith
        ):
            return stmt.with_changes(body=self._suite(stmt.body, node.body))
        if isinstance(stmt, cst.For | cst.While) and isinstance(node, ast.For | ast.AsyncFor | ast.While):
            orelse = self._else(stmt.orelse, node.orelse) if stmt.orelse is not None else None
            return stmt.with_changes(body=self._suite(stmt.body, node.body), orelse=orelse)
        if isinstance(stmt, cst.If) and isinstance(node, ast.If):
            branch: cst.If | cst.Else | _Visited | None = stmt.orelse
            if isinstance(stmt.orelse, cst.If):
                branch = self._compound(stmt.orelse, node.orelse[0] if len(node.orelse) == 1 else None)
            elif isinstance(stmt.orelse, cst.Else):
                branch = self._else(stmt.orelse, node.orelse)
            if not isinstance(branch, cst.If | cst.Else | None):
                return self._full(stmt)  # an `elif` cannot be removed on its own: transform the whole `if`
            return stmt.with_changes(body=self._suite(stmt.body, node.body), orelse=branch)
        return self._full(stmt)  # try/match/...: rare in DAG files, the full transformer handles them

    def _else(self, orelse: cst.Else, nodes: list[ast.stmt]) -> cst.Else:
        return orelse.with_changes(leading_lines=self.lines(orelse.leading_lines), body=self._suite(orelse.body, nodes))

    def _suite(self, suite: cst.BaseSuite, nodes: list[ast.stmt]) -> cst.BaseSuite:
        if not isinstance(suite, cst.IndentedBlock):
            visited = suite.visit(self.remover)
            assert isinstance(visited, cst.BaseSuite)
            return visited
        body = self.block(suite.body, nodes) or [cst.SimpleStatementLine([cst.Pass()])]
        return suite.with_changes(body=body, footer=self.lines(suite.footer))


_Visited = cst.BaseStatement | cst.RemovalSentinel | cst.FlattenSentinel[cst.BaseStatement]


def _strip_licence(module: cst.Module) -> tuple[cst.Module, bool]:
    """Drop the comment block of the Apache licence from the module header (and blank lines after it)."""
    header = list(module.header)
    texts = [line.comment.value if line.comment else None for line in header]
    comments = [i for i, text in enumerate(texts) if text and _LICENCE.search(text)]
    if not comments:
        return module, False
    start = end = comments[0]
    while start > 0 and (previous := texts[start - 1]) is not None and not previous.startswith("#!"):
        if "coding" in previous:  # keep a PEP 263 encoding line
            break
        start -= 1
    while end + 1 < len(header) and header[end + 1].comment:
        end += 1
    while end + 1 < len(header) and not header[end + 1].comment:
        end += 1
    return module.with_changes(header=header[:start] + header[end + 1 :]), True


def clean(code: str, *, recover: bool = True) -> CleanResult:
    """Clean one DAG file. Raises `libcst.ParserSyntaxError` on code libcst cannot parse."""
    return clean_parsed(code, ast.parse(code), recover=recover)[0]


def clean_parsed(
    code: str, before: ast.Module, *, recover: bool = True, fast_path: bool = True
) -> tuple[CleanResult, ast.Module]:
    """`clean` for a caller that already parsed the code; also returns the cleaned tree.

    `fast_path=False` sends comment-only files through libcst too (tests compare the two ways).
    """
    nodes = list(ast.walk(before))
    plan = make_plan(nodes, recover)
    if fast_path and not (plan.test_imports or plan.harness or "SYSTEM_TEST" in code or "get_test_env_id" in code):
        plain = strip_comments(code, before)
        if plain is not None:
            return CleanResult(code=plain[0], steps=plain[1]), before
    module = cst.parse_module(code)
    steps: list[str] = []
    module, stripped = _strip_licence(module)
    if stripped:
        steps.append("licence_header")
    remover = HarnessRemover(plan, recover)
    walker = _Walker(plan, remover, code.splitlines(), nodes)
    module = module.with_changes(
        header=walker.lines(module.header),
        body=walker.block(module.body, before.body),
        footer=walker.lines(module.footer),
    )
    steps.extend(sorted(remover.steps))
    if not set(remover.steps) - _COMMENT_STEPS:
        # Only comments went: the program, and so its tree, is the one we were given.
        code_out = module.code
        if "\n\n\n\n" in code_out:
            code_out = collapse_blank_runs(code_out, ast.parse(code_out))
        return CleanResult(code=code_out, steps=steps), before
    code_out = module.code
    after = ast.parse(code_out)
    unused = names_to_prune(before, after)
    if unused:
        module = prune(module, unused)
        steps.append("unused_imports")
    introduced_os = any(s in remover.steps for s in ("test_context", "test_constants", "env_id")) and any(
        isinstance(n, ast.Name) and n.id == "os" for n in ast.walk(after)
    )
    if introduced_os and "os" not in bound_imports(after):
        module = ensure_import_os(module)
    if unused or introduced_os:
        code_out = module.code
        after = ast.parse(code_out)
    if "\n\n\n\n" in code_out:
        code_out = collapse_blank_runs(code_out, after)
        after = ast.parse(code_out)
    return CleanResult(code=code_out, steps=steps), after
