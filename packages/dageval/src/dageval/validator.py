"""One file at a time, as a server judges a request: levels 1-4 in-process, level 5 in a real Airflow.

Starting Airflow workers takes seconds, so a `Validator` keeps one warm `ImportChecker` per Airflow version
for its life. Its `validate(code, airflow_version)` fits dagserve's validator protocol by shape alone:
dageval does not import dagserve.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from dagcore import AirflowVersion
from dageval.evaluate import evaluate, exact_version
from dageval.exceptions import RuntimeUnavailableError
from dageval.importer import ImportChecker, active_pool
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
        self._checkers: dict[str, ImportChecker] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

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
        with self._guard:
            lock = self._locks.setdefault(runtime.version, threading.Lock())
        with lock:  # one file at a time per version; the checker's workers are not shared across threads
            pool = active_pool()
            if pool is not None:  # warm for every judgement of this process (the experiment's), not ours to stop
                return pool.checker(
                    runtime, workers=self.workers, limits=None, install_providers=self.install_providers
                ).check([code])[0]
            with self._guard:
                checker = self._checkers.get(runtime.version)
            if checker is None:  # started outside the guard: it takes seconds, and other versions must not wait
                checker = ImportChecker(runtime, workers=self.workers, install_providers=self.install_providers)
                with self._guard:
                    self._checkers[runtime.version] = checker
            return checker.check([code])[0]

    def close(self) -> None:
        """Stop every Airflow worker; a later `validate` starts them again."""
        with self._guard:
            checkers, self._checkers = list(self._checkers.values()), {}
        for checker in checkers:
            checker.close()

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
