"""After the harness is gone: drop what only it used, and import `os` where recovered values need it."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence

import libcst as cst

from dagmine._harness import dotted


def bound_imports(tree: ast.Module) -> dict[str, ast.stmt]:
    bound: dict[str, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = node
    return bound


def name_uses(tree: ast.Module) -> Counter[str]:
    uses: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            uses[node.id] += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            uses[node.value] += 1  # `__all__` entries and string annotations keep their import
    return uses


def names_to_prune(before: ast.Module, after: ast.Module) -> set[str]:
    """Imports and module constants used before cleaning and unused after it: only the harness used them."""
    used_before, used_after = name_uses(before), name_uses(after)
    candidates = set(bound_imports(after))
    for stmt in after.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Constant)
        ):
            candidates.add(stmt.targets[0].id)
    assigned_after = Counter(n.id for n in ast.walk(after) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return {
        name
        for name in candidates
        if used_before[name] > assigned_after[name] and used_after[name] - assigned_after[name] <= 0
    }


def _alias_name(alias: cst.ImportAlias) -> str:
    if alias.asname and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return dotted(alias.name).split(".")[0]


def _prune_line(line: cst.SimpleStatementLine, names: set[str]) -> cst.SimpleStatementLine | None:
    body: list[cst.BaseSmallStatement] = []
    for small in line.body:
        if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            kept = [a for a in small.names if _alias_name(a) not in names]
            if not kept:
                continue
            if len(kept) != len(small.names):
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=kept)
        elif (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and small.targets[0].target.value in names
        ):
            continue
        body.append(small)
    return line.with_changes(body=body) if body else None


def prune(module: cst.Module, names: set[str]) -> cst.Module:
    """Drop module-level imports and constants named in `names` (only the harness used them)."""
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            pruned = _prune_line(stmt, names)
            if pruned is None:
                continue
            stmt = pruned
        body.append(stmt)
    return module.with_changes(body=body)


def ensure_import_os(module: cst.Module) -> cst.Module:
    body = list(module.body)
    insert_at = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Import | cst.ImportFrom):
            small = stmt.body[0]
            if isinstance(small, cst.ImportFrom) and dotted(small.module or cst.Name("_")) == "__future__":
                insert_at = i + 1
                continue
            insert_at = i
            break
        if i == 0 and isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr):
            insert_at = 1  # after the module docstring
    import_os = cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("os"))])])
    if insert_at < len(body):
        # Keep the blank lines and comments that led the statement we insert before.
        following = body[insert_at]
        leading: Sequence[cst.EmptyLine] = getattr(following, "leading_lines", ())
        import_os = import_os.with_changes(leading_lines=leading)
        body[insert_at] = following.with_changes(leading_lines=())
    body.insert(insert_at, import_os)
    return module.with_changes(body=body)
