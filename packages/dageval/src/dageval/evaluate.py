"""Judge samples level by level, up to the level asked for; static levels run in-process and in batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dagcore import AirflowVersion
from dageval.extract import extract
from dageval.intent import check_intent
from dageval.lint import lint_result, ruff_codes
from dageval.models import Level, LevelResult, Limits, Sample, Verdict
from dageval.structure import structure, syntax

Progress = Callable[[str, int, int], None]


def evaluate(
    samples: Sequence[Sample],
    *,
    level: Level = Level.LINT,
    airflow_version: AirflowVersion | str | None = None,
    progress: Progress | None = None,
    runtime_root: Path | None = None,
    import_workers: int = 2,
    install_providers: bool = True,
    limits: Limits | None = None,
) -> list[Verdict]:
    """Verdicts for every sample, each stopping at its first failed level.

    Levels 1-4 run in-process; level 5 loads the files in a real Airflow of each sample's version
    (an isolated runtime, created once and cached under `runtime_root`).
    """
    report: Progress = progress or (lambda stage, done, total: None)
    verdicts: list[Verdict] = []
    fallback = AirflowVersion.of(airflow_version)
    for i, sample in enumerate(samples, start=1):
        version = sample.airflow_version or fallback
        verdict = Verdict(sample_id=sample.id, prompt_id=sample.prompt_id, airflow_version=version)
        code, extracted = extract(sample.completion, sample.finish_reason)
        verdict.code = code
        verdict.results.append(extracted)
        if extracted.ok and level >= Level.SYNTAX:
            tree, parsed = syntax(code)
            verdict.results.append(parsed)
            if tree is not None and level >= Level.STRUCTURE:
                verdict.results.append(structure(tree))
        verdicts.append(verdict)
        if i % 200 == 0 or i == len(samples):
            report("static", i, len(samples))
    if level >= Level.LINT:
        ready = [v for v in verdicts if v.passed == Level.STRUCTURE]
        for verdict, findings in zip(ready, ruff_codes([v.code for v in ready]), strict=True):
            verdict.results.append(lint_result(findings, verdict.airflow_version))
        report("lint", len(ready), len(ready))
    if level >= Level.IMPORT:
        _import_level(verdicts, report, runtime_root, import_workers, install_providers, limits)
    if level >= Level.INTENT:
        for sample, verdict in zip(samples, verdicts, strict=True):
            if verdict.passed == Level.IMPORT:
                loaded = verdict.results[-1].loaded
                verdict.results.append(check_intent(sample.expect, loaded, verdict.code))
    return verdicts


# A sample that names no Airflow version is judged on the newest installed runtime, else on this series.
DEFAULT_SERIES = AirflowVersion("3.1")


def exact_version(asked: AirflowVersion | str | None, root: Path | None = None) -> str:
    """The release to judge a sample on: a release as given; for a series (`2.10`), the newest installed 2.10.x
    runtime, else the newest 2.10.x on the package index. Raises when neither can be had (offline, no runtime)."""
    from dageval.runtime import installed_runtimes, resolve_version

    version = AirflowVersion.of(asked)
    if version is not None and version.is_release:
        return str(version)
    installed = [AirflowVersion(info.version) for info in installed_runtimes(root)]
    matching = [v for v in installed if version is None or v.in_series(version)]
    if matching:
        return str(max(matching))
    return resolve_version((version or DEFAULT_SERIES).series)


def _import_level(
    verdicts: list[Verdict],
    report: Progress,
    root: Path | None,
    workers: int,
    install_providers: bool,
    limits: Limits | None,
) -> None:
    from dageval.exceptions import RuntimeBrokenError, RuntimeUnavailableError
    from dageval.importer import checker_for
    from dageval.runtime import Runtime

    by_version: dict[str, list[Verdict]] = {}
    unresolved: dict[AirflowVersion | None, str] = {}
    exact: dict[AirflowVersion | None, str] = {}
    for asked in {verdict.airflow_version for verdict in verdicts if verdict.passed == Level.LINT}:
        try:
            exact[asked] = exact_version(asked, root)
        except RuntimeUnavailableError as e:
            unresolved[asked] = f"no runtime for Airflow {asked or DEFAULT_SERIES.series}: {e}"
    for verdict in verdicts:
        if verdict.passed != Level.LINT:
            continue
        if verdict.airflow_version in unresolved:
            message = unresolved[verdict.airflow_version][:500]
            verdict.results.append(
                LevelResult(level=Level.IMPORT, ok=False, category="runtime_unavailable", message=message)
            )
        else:
            by_version.setdefault(exact[verdict.airflow_version], []).append(verdict)
    for version, group in sorted(by_version.items(), key=lambda item: AirflowVersion(item[0])):
        stage = f"import {version}"

        def step(done: int, total: int, stage: str = stage) -> None:
            report(stage, done, total)

        try:
            runtime = Runtime(version, root)
            with checker_for(runtime, workers=workers, limits=limits, install_providers=install_providers) as checker:
                results = checker.check([v.code for v in group], progress=step)
        except RuntimeUnavailableError as e:
            # One version that cannot be installed (too old for this Python, yanked) must not stop the others.
            category = "runtime_broken" if isinstance(e, RuntimeBrokenError) else "runtime_unavailable"
            unavailable = LevelResult(level=Level.IMPORT, ok=False, category=category, message=str(e)[:500])
            results = [unavailable] * len(group)
        for verdict, result in zip(group, results, strict=True):
            verdict.results.append(result)
