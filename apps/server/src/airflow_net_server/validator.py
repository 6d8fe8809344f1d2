"""dageval plugged into dagserve's validator protocol, with warm Airflow workers kept between requests."""

from __future__ import annotations

import threading
from pathlib import Path

import dageval
from dageval import Level, LevelResult, Sample
from dageval.evaluate import exact_version
from dageval.importer import ImportChecker
from dageval.runtime import Runtime
from dagserve import ValidationResult


class DagevalValidator:
    """Levels 1-4 in-process; level 5 in a real Airflow when its runtime is installed (or may be installed).

    Starting Airflow workers takes seconds, so one checker per Airflow version stays up for the app's life.
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

    def validate(self, code: str, airflow_version: str | None) -> ValidationResult:
        sample = Sample(id="request", completion=code, airflow_version=airflow_version)
        static = min(self.level, Level.LINT)
        verdict = dageval.evaluate([sample], level=static)[0]
        results = list(verdict.results)
        note = ""
        if verdict.passed == Level.LINT and self.level >= Level.IMPORT:
            version = exact_version(airflow_version, self.runtime_root)
            runtime = Runtime(version, self.runtime_root)
            if runtime.installed or self.install_runtimes:
                results.append(self._import(runtime, verdict.code))
            else:
                note = f"not loaded in Airflow: no {version} runtime (`dageval runtime install {version}`)"
        return _to_result(results, note)

    def _import(self, runtime: Runtime, code: str) -> LevelResult:
        with self._guard:
            lock = self._locks.setdefault(runtime.version, threading.Lock())
        with lock:  # one file at a time per version; the checker's workers are not shared across threads
            checker = self._checkers.get(runtime.version)
            if checker is None:
                checker = ImportChecker(runtime, workers=self.workers, install_providers=self.install_providers)
                self._checkers[runtime.version] = checker
            return checker.check([code])[0]

    def close(self) -> None:
        for checker in self._checkers.values():
            checker.__exit__(None, None, None)
        self._checkers.clear()


def _to_result(results: list[LevelResult], note: str) -> ValidationResult:
    failure = next((r for r in results if not r.ok), None)
    last = failure or results[-1]
    message = failure.message if failure else (results[-1].message or "valid")
    return ValidationResult(
        ok=failure is None,
        level=last.level.label,
        category=failure.category if failure else None,
        message=f"{message} ({note})" if note and failure is None else message,
        details={
            "levels": [{"level": r.level.label, "ok": r.ok, "category": r.category, "codes": r.codes} for r in results],
            "imported": any(r.level == Level.IMPORT for r in results),
        },
    )
