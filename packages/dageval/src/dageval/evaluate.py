"""Judge samples level by level, up to the level asked for; static levels run in-process and in batch."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from dageval.extract import extract
from dageval.lint import lint_result, ruff_codes
from dageval.models import Level, LevelResult, Limits, Sample, Verdict
from dageval.structure import structure, syntax

Progress = Callable[[str, int, int], None]
_VERSION_IN_PROMPT = re.compile(r"(?:Airflow Version:|Apache Airflow|Airflow)\s*v?(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)


def version_from_prompt(prompt: str) -> str | None:
    """`Target: Apache Airflow 2.10`, `Airflow Version: 2.10.5`, `an Airflow 3.1 DAG` -> the version."""
    match = _VERSION_IN_PROMPT.search(prompt)
    return match.group(1) if match else None


def evaluate(
    samples: Sequence[Sample],
    *,
    level: Level = Level.LINT,
    airflow_version: str | None = None,
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
    for i, sample in enumerate(samples, start=1):
        version = sample.airflow_version or airflow_version
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
    return verdicts


# Offline fallback for a sample that names only `major.minor` when the index cannot be asked.
LATEST_PATCH = {
    "2.7": "2.7.3",
    "2.8": "2.8.4",
    "2.9": "2.9.3",
    "2.10": "2.10.5",
    "2.11": "2.11.0",
    "3.0": "3.0.6",
    "3.1": "3.1.8",
}
DEFAULT_VERSION = "3.1.8"


def exact_version(version: str | None, root: Path | None = None) -> str:
    """The release to judge a sample on: exact as given; for `2.10`, the newest installed 2.10.x runtime,
    else the newest 2.10.x on the package index, else a known release."""
    from dageval.exceptions import RuntimeUnavailableError
    from dageval.runtime import installed_runtimes, resolve_version

    if not version:
        return DEFAULT_VERSION
    if re.fullmatch(r"\d+\.\d+\.\d+", version):
        return version
    series = [i.version for i in installed_runtimes(root) if i.version.startswith(version + ".")]
    if series:
        return series[-1]
    try:
        return resolve_version(version)
    except RuntimeUnavailableError:
        return LATEST_PATCH.get(version, f"{version}.0")


def _import_level(
    verdicts: list[Verdict],
    report: Progress,
    root: Path | None,
    workers: int,
    install_providers: bool,
    limits: Limits | None,
) -> None:
    from dageval.exceptions import RuntimeUnavailableError
    from dageval.importer import ImportChecker
    from dageval.runtime import Runtime

    by_version: dict[str, list[Verdict]] = {}
    exact = {v: exact_version(v, root) for v in {verdict.airflow_version for verdict in verdicts}}
    for verdict in verdicts:
        if verdict.passed == Level.LINT:
            by_version.setdefault(exact[verdict.airflow_version], []).append(verdict)
    for version, group in sorted(by_version.items()):
        stage = f"import {version}"

        def step(done: int, total: int, stage: str = stage) -> None:
            report(stage, done, total)

        try:
            runtime = Runtime(version, root)
            with ImportChecker(runtime, workers=workers, limits=limits, install_providers=install_providers) as checker:
                results = checker.check([v.code for v in group], progress=step)
        except RuntimeUnavailableError as e:
            # One version that cannot be installed (too old for this Python, yanked) must not stop the others.
            unavailable = LevelResult(
                level=Level.IMPORT, ok=False, category="runtime_unavailable", message=str(e)[:500]
            )
            results = [unavailable] * len(group)
        for verdict, result in zip(group, results, strict=True):
            verdict.results.append(result)
