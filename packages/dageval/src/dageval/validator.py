"""One file at a time, as a server judges a request: levels 1-4 in-process, level 5 in a real Airflow.

Starting Airflow workers takes seconds, so a `Validator` keeps one warm `ImportChecker` per Airflow version
for its life. Its `validate(code, airflow_version)` fits dagserve's validator protocol by shape alone:
dageval does not import dagserve.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from dagcore import AirflowVersion
from dageval.evaluate import evaluate, exact_version
from dageval.exceptions import RuntimeUnavailableError
from dageval.importer import CheckerPool, active_pool
from dageval.models import Level, LevelResult, Sample
from dageval.runtime import Runtime


class Check(BaseModel):
    """The verdict on one file, flattened for a caller that feeds it back to a model."""

    ok: bool
    level: str | None = None
    """The last level reached: the failing one, else the deepest one run (e.g. `lint`, `import`)."""
    category: str | None = None
    """Why it failed, as a short machine-readable name (e.g. `hallucinated_module`); None when it passed."""
    message: str = ""
    """What failed, in words the model can act on; for a pass, what was found."""
    details: dict[str, Any] = {}
    """`levels`: each level run, with `level`, `ok`, `category` and `codes`; `imported`: whether Airflow loaded it."""


class Validator:
    """Levels 1-4 in-process; level 5 in a real Airflow when its runtime is installed (or may be installed).

    Safe to share between threads. Use as a context manager, or call `close()` to stop the Airflow workers.
    """

    def __init__(
        self,
        level: Level = Level.IMPORT,
        *,
        runtime_root: Path | None = None,
        install_runtimes: bool = False,
        install_providers: bool = True,
        workers: int = 1,
    ) -> None:
        self.level = level
        self.runtime_root = runtime_root
        self.install_runtimes = install_runtimes
        self.install_providers = install_providers
        self.workers = workers
        self._pool = CheckerPool()
        """Its own warm checkers, used while no `shared_checkers()` block is open."""

    def validate(self, code: str, airflow_version: AirflowVersion | str | None) -> Check:
        """Judge one file for a target Airflow version (`2.10`, `3.1.3`, None for the default release)."""
        asked = AirflowVersion.of(airflow_version)
        sample = Sample(id="request", completion=code, airflow_version=asked)
        verdict = evaluate([sample], level=min(self.level, Level.LINT))[0]
        results = list(verdict.results)
        note = ""
        if verdict.passed == Level.LINT and self.level >= Level.IMPORT:
            try:
                version = exact_version(asked, self.runtime_root)
            except RuntimeUnavailableError as e:
                return _check(results, f"not loaded in Airflow: {e}")
            runtime = Runtime(version, self.runtime_root)
            if runtime.installed or self.install_runtimes:
                results.append(self._import(runtime, verdict.code))
            else:
                note = f"not loaded in Airflow: no {version} runtime (`dageval runtime install {version}`)"
        return _check(results, note)

    def _import(self, runtime: Runtime, code: str) -> LevelResult:
        # The open shared pool (an experiment's) when there is one, else this Validator's own. A checker judges one
        # file at a time; checkers of other versions run meanwhile.
        pool = active_pool() or self._pool
        checker = pool.checker(runtime, workers=self.workers, limits=None, install_providers=self.install_providers)
        return checker.check([code])[0]

    def close(self) -> None:
        """Stop this Validator's Airflow workers (a shared pool's stop with its block); a later `validate` starts
        them again."""
        self._pool.close()

    def __enter__(self) -> Validator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _check(results: list[LevelResult], note: str) -> Check:
    failure = next((r for r in results if not r.ok), None)
    last = failure or results[-1]
    message = failure.message if failure else (results[-1].message or "valid")
    return Check(
        ok=failure is None,
        level=last.level.label,
        category=failure.category if failure else None,
        message=f"{message} ({note})" if note and failure is None else message,
        details={
            "levels": [{"level": r.level.label, "ok": r.ok, "category": r.category, "codes": r.codes} for r in results],
            "imported": any(r.level == Level.IMPORT for r in results),
        },
    )
