"""Typed records of an evaluation: samples in, verdicts out."""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dagcore import AirflowVersion, Expect
from dageval._scrub import scrub


class Level(IntEnum):
    """Validity levels, each stricter than the one before."""

    EXTRACT = 1
    SYNTAX = 2
    STRUCTURE = 3
    LINT = 4
    IMPORT = 5
    INTENT = 6
    """The loaded DAG shows what the request asked for (a benchmark row's `expect`)."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, name: str, what: str = "level") -> Level:
        """`"import"` -> `Level.IMPORT`; anything else is an InputError naming `what` and the choices."""
        for level in cls:
            if level.label == name:
                return level
        from dageval.exceptions import InputError

        raise InputError(f"{what} must be one of {', '.join(lv.label for lv in cls)}, not {name!r}")


class LoadedTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operator: str = ""
    module: str = ""
    bases: list[str] = Field(default_factory=list)
    mapped: bool = False
    retries: int = 0
    callbacks: bool = False
    deferrable: bool = False
    trigger_rule: str = "all_success"


class LoadedDag(BaseModel):
    """One DAG as Airflow loaded it (reported by the import level's worker)."""

    model_config = ConfigDict(extra="ignore")

    dag_id: str = ""
    schedule: str = ""
    """The timetable's summary: `@daily`, `0 2 * * *`, `None`, `Dataset`/`Asset`, ..."""
    timetable: str = ""
    tasks: list[LoadedTask] = Field(default_factory=list)
    task_groups: int = 0
    params: list[str] = Field(default_factory=list)
    callbacks: bool = False


class RepairStep(BaseModel):
    """One answer of the repair loop: how far the judge let it get."""

    completion: str
    finish_reason: str | None = None
    passed: list[str] = Field(default_factory=list)
    """The levels it passed in a row (`extract`, `syntax`, ...)."""
    category: str | None = None
    """Why it failed, when it did."""

    @property
    def ok(self) -> bool:
        return self.category is None

    @property
    def depth(self) -> int:
        return len(self.passed)


class Sample(BaseModel):
    """One generated completion to judge."""

    id: str
    completion: str
    prompt_id: str = ""
    """Samples of the same prompt share it (pass@k, paired comparisons)."""
    finish_reason: str | None = None
    """`length` means the generator hit its token limit: the code is cut off."""
    airflow_version: AirflowVersion | None = None
    """The Airflow version the sample is judged in (a release, or a series: its newest release)."""
    expect: Expect | None = None
    """What the DAG must show (intent level); None: nothing beyond a valid DAG."""
    tags: list[str] = Field(default_factory=list)
    """What the request exercises (per-tag rates)."""
    repairs: list[RepairStep] = Field(default_factory=list)
    """With `--repairs N`: each answer of the generate-validate-repair loop and how far it got; the sample's
    own completion is the first answer (single-shot)."""


class LevelResult(BaseModel):
    level: Level
    ok: bool
    category: str = ""
    """Why it failed: `no_code`, `truncated`, `syntax_error`, `no_dag`, `no_tasks`, `cycle`,
    `duplicate_task_id`, `test_internals`, `lint`, ..."""
    message: str = ""
    """Secret-looking values (keys, tokens, passwords) are replaced by `[redacted]`."""
    codes: list[str] = Field(default_factory=list)
    """Ruff rule codes found (lint level)."""
    loaded: list[LoadedDag] = Field(default_factory=list)
    """The DAGs Airflow loaded (import level), for the intent level."""

    @field_validator("message")
    @classmethod
    def _no_secrets(cls, message: str) -> str:
        return scrub(message)


class Verdict(BaseModel):
    sample_id: str
    prompt_id: str = ""
    airflow_version: AirflowVersion | None = None
    code: str = ""
    results: list[LevelResult] = Field(default_factory=list)

    @property
    def passed(self) -> Level | None:
        """The highest level passed in a row, None if even extraction failed."""
        best = None
        for result in self.results:
            if not result.ok:
                break
            best = result.level
        return best

    def ok_at(self, level: Level) -> bool:
        return any(r.level == level and r.ok for r in self.results)

    @property
    def failure(self) -> LevelResult | None:
        return next((r for r in self.results if not r.ok), None)


class Limits(BaseModel):
    """Per-file sandbox limits: wall-clock seconds, address space, CPU seconds, file size, processes.

    `memory` caps the file's whole process tree: with a memory cgroup it is the cgroup's `memory.max` (and
    `nproc` its process count); without one the file gets a single process (`nproc` does not apply), whose
    address space is `memory`."""

    timeout: float = 30.0
    memory: int = 2 * 1024**3
    cpu: int = 30
    fsize: int = 16 * 1024**2
    nproc: int = 256
