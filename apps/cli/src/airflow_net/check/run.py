"""Load every DAG file of a folder in two Airflow versions (dageval's sandbox) and explain what breaks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import dageval
from airflow_net.check.models import CheckReport, FileCheck
from dagcore import AirflowNetError

Progress = Callable[[str, int, int], None]
# Quoted names in an error (`No module named 'airflow.operators.dummy'`) and bare dotted module paths.
# dageval names these for a model that invents code; in a user's own file the module or name is simply gone.
_CATEGORY = {"hallucinated_module": "no_such_module", "hallucinated_name": "no_such_name"}
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)'")
_NAMES = re.compile(r"['`\"]([A-Za-z_][\w.]*)['`\"]|\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b")


class CheckError(AirflowNetError):
    """The folder cannot be checked: it does not exist, or it holds no DAG file."""


def dag_files(folder: Path) -> list[Path]:
    """Python files Airflow would parse: like its safe mode, only those that mention both `airflow` and `dag`."""
    if not folder.is_dir():
        raise CheckError(f"{folder} is not a folder")
    found = []
    for path in sorted(folder.rglob("*.py")):
        if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts):
            continue
        text = path.read_bytes().lower()
        if b"airflow" in text and b"dag" in text:
            found.append(path)
    return found


def run_check(
    folder: Path,
    source: str,
    target: str,
    *,
    install_providers: bool = True,
    install_runtimes: bool = False,
    workers: int = 2,
    progress: Progress | None = None,
) -> CheckReport:
    started = time.monotonic()
    paths = dag_files(folder)
    if not paths:
        raise CheckError(f"no DAG file in {folder} (a .py file that mentions both `airflow` and `dag`)")
    codes = [p.read_text(encoding="utf-8", errors="replace") for p in paths]

    def load(version: str) -> tuple[str, list[dageval.LevelResult]]:
        def step(done: int, total: int) -> None:
            if progress:
                progress(f"load in {version}", done, total)

        return dageval.load_files(
            codes,
            version,
            install_runtime=install_runtimes,
            install_providers=install_providers,
            workers=workers,
            progress=step,
        )

    before_version, before = load(source)
    after_version, after = load(target)
    findings = [[f for f in found if f.code.startswith("AIR3")] for found in dageval.air_findings(codes)]
    rows = []
    for path, old, new, found in zip(paths, before, after, findings, strict=True):
        rows.append(
            FileCheck(
                path=str(path.relative_to(folder)),
                loads_before=old.ok,
                loads_after=new.ok,
                error_before=None if old.ok else _error(old),
                error_after=None if new.ok else _error(new),
                rule=None if new.ok else explaining_rule(new.message, found),
                findings=found,
            )
        )
    return CheckReport(
        folder=str(folder),
        from_version=before_version,
        to_version=after_version,
        seconds=round(time.monotonic() - started, 2),
        files=rows,
    )


def explaining_rule(error: str, findings: list[dageval.AirFinding]) -> dageval.AirFinding | None:
    """The finding that names what the error names (a module, class or argument), breaking rules first."""
    cannot = _CANNOT_IMPORT.search(error)
    # `cannot import name 'X' from 'm'`: m is still there, only X is gone; a rule about m does not explain it.
    names = {cannot.group(1)} if cannot else {quoted or dotted for quoted, dotted in _NAMES.findall(error)}
    # `airflow.operators.dummy.DummyOperator` in a finding explains `No module named 'airflow.operators.dummy'`.
    names = {n for n in names if len(n) > 3 and n not in {"airflow", "None"}}
    ranked = sorted(findings, key=lambda f: f.code not in ("AIR301", "AIR302"))
    for finding in ranked:
        if any(re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", finding.message) for name in names):
            return finding
    return None


def _error(result: dageval.LevelResult) -> str:
    return f"{_CATEGORY.get(result.category, result.category)}: {result.message}"
