"""Broken versions of a composed file, each a mistake small models make in DAG files: with the error a real
Airflow gives for it and the composed file as the fix, a repair lesson (`compose_to_dir(repairs=...)`).

The mistakes are the ones read in our own models' answers (2026-12-04/05 laptop runs): an Airflow name used but
not imported (`@task` after `from airflow.decorators import dag`), the other major's modules (`airflow.sdk` for
2.x), invented names (`from airflow.decorators import dag_id, task_mapping`), invented arguments
(`@task(schedule=...)`), and a call to a function the file never defines. A break is only a lesson when the
judge rejects it: the model is then shown the judge's own words, exactly as the repair loop would show them.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from dagcore import fix_imports
from dagsynth.imports import module_of

KINDS = ("unimported", "other_major", "invented_name", "wrong_argument", "undefined_function")

# Names that do not exist in Airflow, as small models write them.
INVENTED = ("task_mapping", "dag_id", "TaskFlow", "task_decorator", "Schedule")
# Real argument -> the name a model puts in its place.
RENAMED = {"bash_command": "command", "python_callable": "callable", "task_id": "name", "schedule": "schedule_interval"}

_IMPORT = re.compile(r"^from (airflow[\w.]*) import (.+)$")
_DEF = re.compile(r"^(\s*)def (\w+)\(")


@dataclass(frozen=True)
class Break:
    kind: str
    code: str


def break_file(code: str, major: int, rng: random.Random) -> Break | None:
    """One broken version of `code` (a file for Airflow `major`.x), its kind drawn from those that apply."""
    kinds = list(KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        broken = _BREAKERS[kind](code, major, rng)
        if broken is not None and broken != code and _parses(broken):
            return Break(kind=kind, code=broken)
    return None


def _parses(code: str) -> bool:
    # A lesson's mistake is the one its kind names; a file cut into a syntax error would teach something else.
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _imports(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    found = []
    for i, line in enumerate(lines):
        if match := _IMPORT.match(line):
            found.append((i, match.group(1), [n.strip() for n in match.group(2).split(",")]))
    return found


def _needed(code: str) -> set[str]:
    """Names the file reads and never binds itself (`with DAG(...) as dag` binds `dag`): without their import,
    the file fails."""
    tree = ast.parse(code)
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stores = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    defs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return loads - stores - defs


def _unimported(code: str, major: int, rng: random.Random) -> str | None:
    lines = code.splitlines()
    needed = _needed(code)
    used = [(i, m, names, n) for i, m, names in _imports(lines) for n in names if n in needed]
    if not used:
        return None
    i, module, names, name = rng.choice(used)
    rest = [n for n in names if n != name]
    if rest:
        lines[i] = f"from {module} import {', '.join(rest)}"
    else:
        del lines[i]
    return "\n".join(lines) + "\n"


def _other_major(code: str, major: int, rng: random.Random) -> str | None:
    # dagcore's own mover pointed the wrong way: the file as the other major would import it.
    moved = fix_imports(code, "3.0" if major < 3 else "2.10")
    return moved.code if moved.changes else None


def _invented_name(code: str, major: int, rng: random.Random) -> str | None:
    lines = code.splitlines()
    authoring = module_of("dag", major)
    for i, module, names in _imports(lines):
        if module == authoring:
            lines[i] = f"from {module} import {', '.join([*names, rng.choice(INVENTED)])}"
            return "\n".join(lines) + "\n"
    return None


def _wrong_argument(code: str, major: int, rng: random.Random) -> str | None:
    # `schedule_interval` still loads in Airflow 2: only a lesson for 3.
    options = [
        (real, fake) for real, fake in RENAMED.items() if f"{real}=" in code and (real != "schedule" or major >= 3)
    ]
    if not options:
        return None
    real, fake = rng.choice(options)
    spots = [m.start() for m in re.finditer(rf"(?<![\w.]){real}=", code)]
    at = rng.choice(spots)
    return code[:at] + f"{fake}=" + code[at + len(real) + 1 :]


def _undefined_function(code: str, major: int, rng: random.Random) -> str | None:
    lines = code.splitlines()
    blocks: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        match = _DEF.match(line)
        if not match or not re.search(rf"(?<![\w.]){match.group(2)}\(", "\n".join(lines[i + 1 :])):
            continue
        start = i
        while start > 0 and lines[start - 1].strip().startswith("@"):
            start -= 1
        if any(line.strip().startswith(("@dag", ")")) for line in lines[max(start - 1, 0) : i]):
            continue  # the DAG's own function (`@dag(...)`): without it there is no DAG, not an undefined name
        end = i + 1
        while end < len(lines) and lines[end].strip():
            end += 1
        blocks.append((start, end))
    if not blocks:
        return None
    start, end = rng.choice(blocks)
    return "\n".join([*lines[:start], *lines[end:]]) + "\n"


_BREAKERS = {
    "unimported": _unimported,
    "other_major": _other_major,
    "invented_name": _invented_name,
    "wrong_argument": _wrong_argument,
    "undefined_function": _undefined_function,
}
