"""The import level alone, for files already written: does this Airflow load them?

`evaluate` stops a file at its first failed level, so a file that ruff flags as removed in Airflow 3 is never
loaded there. A migration check needs the load itself in each version, whatever the lint says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dagcore import AirflowVersion
from dageval.evaluate import exact_version
from dageval.exceptions import RuntimeUnavailableError
from dageval.importer import checker_for
from dageval.models import LevelResult, Limits
from dageval.runtime import Runtime


def load_files(
    codes: Sequence[str],
    airflow_version: AirflowVersion | str,
    *,
    runtime_root: Path | None = None,
    install_runtime: bool = False,
    install_providers: bool = True,
    workers: int = 2,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, list[LevelResult]]:
    """Load each file in a sandboxed Airflow of that version; returns the exact release and one result per file.

    A series (`2.10`) means its newest installed release. Raises `RuntimeUnavailableError` when that runtime is
    not installed and `install_runtime` is False (making one takes minutes), or when it cannot be made.
    """
    version = exact_version(AirflowVersion.of(airflow_version), runtime_root)
    runtime = Runtime(version, runtime_root)
    if not runtime.installed and not install_runtime:
        raise RuntimeUnavailableError(
            f"no Airflow {version} runtime installed: `dageval runtime install {version}` (minutes, once)"
        )
    if not codes:
        return version, []
    with checker_for(runtime, workers=workers, limits=limits, install_providers=install_providers) as checker:
        return version, checker.check(list(codes), progress=progress)
