"""`fix_imports()`: move a DAG file's Airflow imports to where its target version has them.

A deterministic pass after generation, never mixed into what a model is measured on by itself: small models
write `from airflow.sdk import dag` for Airflow 2 and use `@task` without importing it. Names the table in
`dagcore.names` knows are imported from their module in the target major (and `Dataset`/`Asset` renamed);
names it does not know, and every other line, are left as they are. A file that does not parse is returned
unchanged: there is nothing to move safely.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections import defaultdict

from pydantic import BaseModel

from dagcore.fixquotes import FixedQuotes, fix_quotes
from dagcore.modules import SeriesTable
from dagcore.names import ASSET_CLASS, module_of
from dagcore.version import AirflowVersion

_BUILTINS = frozenset(dir(builtins))

# Standard-library names a missing import is added for, beside the Airflow table's: `timedelta` used in
# `default_args` under `from datetime import datetime` failed 9 of 32 dev answers of the 2026-12-05 45-minute model
# (putting `timedelta` in the prompt's import block instead cost the benchmark; README, 45-minute run).
_STDLIB = {"timedelta": "datetime"}
_TIDIED = ("airflow", "datetime")

# Whether the product's generate-validate-repair loop (`airflow-net generate`, the app, the MCP tool) fixes
# imports unless asked not to. Measured on the 2026-12-05 laptop models' 40 benchmark answers: it changed 19 (18),
# never cost one a level, and raised the import rate 22.5% -> 45.0% (contract 2: 22.5% -> 50.0%). Evaluations of
# a model never use it.
FIX_IMPORTS_BY_DEFAULT = True


class FixedImports(BaseModel):
    code: str
    changes: list[str]
    """What moved, one line each (`task: airflow.sdk -> airflow.decorators`); empty when nothing did."""


def _target(name: str, version: AirflowVersion) -> str | None:
    """Where the table puts `name` in `version`'s major; None for a name it does not know there, or one the real
    install of the series does not have there (`BaseHook` reached `airflow.sdk` only in 3.1: `dagcore.modules`)."""
    try:
        module = module_of(name, 2 if version.major < 3 else 3)
    except KeyError:
        return None
    table = SeriesTable.for_version(version)
    names = table.names(module) if table is not None else None
    return module if names is None or name in names else None


def _bound(tree: ast.Module) -> set[str]:
    """Every name the file binds anywhere: imports, definitions, assignments, arguments, comprehension targets."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def fix_imports(
    code: str, airflow_version: AirflowVersion | str | None, *, drop_unused: bool = False, mend_quotes: bool = False
) -> FixedImports:
    """`code` with its Airflow imports where `airflow_version` has them, and known names it uses but never imports
    imported. With no version known nothing moves. `drop_unused`: Airflow and `datetime` names imported but never
    used are then dropped too (`airflow-net generate` and the app do: a model taught the prompt's whole import block
    writes it whole, and a user's linter should not flag six lines of every answer). `mend_quotes`: a file that does
    not parse because a keyword string nests bare double quotes is mended first (`dagcore.fix_quotes`; the product's
    loop does), so its imports can be moved too."""
    mended = fix_quotes(code) if mend_quotes else FixedQuotes(code=code, changes=[])
    moved = _fix(mended.code, airflow_version)
    tidied = _drop_unused(moved.code) if drop_unused else FixedImports(code=moved.code, changes=[])
    return FixedImports(code=tidied.code, changes=[*mended.changes, *moved.changes, *tidied.changes])


def _drop_unused(code: str) -> FixedImports:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return FixedImports(code=code, changes=[])
    used = _used(tree) | _exported(tree)  # decorators, `task.expand`, calls: all `Name` loads
    lines = code.splitlines(keepends=True)
    changes: list[str] = []
    for node in reversed(tree.body):  # from the bottom, so earlier line numbers stay right
        # Airflow's lines, and the datetime line every composed file opens with.
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _TIDIED):
            continue
        kept = [a for a in node.names if a.name == "*" or (a.asname or a.name) in used]
        if len(kept) == len(node.names):
            continue
        changes[:0] = [f"{a.asname or a.name}: unused, dropped" for a in node.names if a not in kept]
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        line = lines[start]
        indent = line[: len(line) - len(line.lstrip())]
        spelled = ", ".join(_spelled(a.name, a.asname) for a in kept)
        lines[start:end] = [f"{indent}from {node.module} import {spelled}\n"] if kept else []
    return FixedImports(code="".join(lines), changes=changes)


def _exported(tree: ast.Module) -> set[str]:
    """Names listed in `__all__`: a file that exports an import uses it."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            found |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return found


def _fix(code: str, airflow_version: AirflowVersion | str | None) -> FixedImports:
    version = AirflowVersion.of(airflow_version)
    if version is None:
        return FixedImports(code=code, changes=[])
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return FixedImports(code=code, changes=[])
    major = 2 if version.major < 3 else 3
    other, asset = ASSET_CLASS[5 - major], ASSET_CLASS[major]  # the asset class of the other major, and ours
    lines = code.splitlines(keepends=True)
    changes: list[str] = []
    wanted: dict[str, list[str]] = defaultdict(list)  # module -> "name" or "name as alias", in order
    drop: set[int] = set()  # 0-based line numbers of rewritten import statements
    first: int | None = None
    renamed = False  # the other major's asset class was imported, so its uses are renamed too
    for node in tree.body:
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "airflow"):
            continue
        moved = False
        kept: list[tuple[str, str]] = []
        for alias in node.names:
            name = asset if alias.name == other else alias.name
            module = _target(name, version)
            if module is None or (module == node.module and name == alias.name):
                kept.append((node.module, _spelled(alias.name, alias.asname)))
                continue
            moved = True
            renamed |= name != alias.name
            changes.append(f"{alias.name}: {node.module} -> {module}" + (f" as {name}" if name != alias.name else ""))
            kept.append((module, _spelled(name, alias.asname)))
        if moved:
            drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
            first = node.lineno - 1 if first is None else first
            for module, spelled in kept:
                if spelled not in wanted[module]:
                    wanted[module].append(spelled)
    missing = sorted(_used(tree) - _bound(tree) - _BUILTINS)
    for name in missing:
        module = _target(name, version) or _STDLIB.get(name)
        if module is not None:
            changes.append(f"{name}: imported from {module}")
            wanted[module].append(name)
    if not changes:
        return FixedImports(code=code, changes=[])
    new = [f"from {module} import {', '.join(names)}\n" for module, names in wanted.items()]
    body = [line for i, line in enumerate(lines) if i not in drop]
    at = first if first is not None else _after_imports(tree)  # no dropped line comes before `first`
    body[at:at] = new
    text = "".join(body)
    if renamed:
        text = re.sub(rf"\b{other}\b", asset, text)
    return FixedImports(code=text, changes=changes)


def _spelled(name: str, asname: str | None) -> str:
    return f"{name} as {asname}" if asname else name


def _used(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _after_imports(tree: ast.Module) -> int:
    """0-based line after the module docstring and the leading imports (where a missing import goes)."""
    at = 0
    for node in tree.body:
        is_doc = (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        )
        if is_doc or isinstance(node, ast.Import | ast.ImportFrom):
            at = node.end_lineno or node.lineno
        else:
            break
    return at
