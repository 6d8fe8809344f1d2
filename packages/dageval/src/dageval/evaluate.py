"""Judge samples level by level, up to the level asked for; static levels run in-process and in batch."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from dageval.extract import extract
from dageval.lint import lint_result, ruff_codes
from dageval.models import Level, LevelResult, Sample, Verdict
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
) -> list[Verdict]:
    """Verdicts for every sample, each stopping at its first failed level (static levels 1-4)."""
    if level > Level.LINT:
        raise NotImplementedError("the import level needs an Airflow runtime (dageval.runtime), not built yet")
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
    return verdicts


def failed_result(level: Level, category: str, message: str) -> LevelResult:
    return LevelResult(level=level, ok=False, category=category, message=message)
