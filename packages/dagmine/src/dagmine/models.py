"""Typed records that cross dagmine's boundary: what it found, what it left out, and why."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from dagcore import AirflowVersion


class ExclusionReason(StrEnum):
    """Why a Python file did not become a DAG record. Every file seen gets exactly one."""

    TOO_LARGE = "too_large"
    BINARY = "binary"
    NOT_UTF8 = "not_utf8"
    NOT_DAG = "not_dag"
    SYNTAX_ERROR = "syntax_error"
    TEST_INTERNALS = "test_internals"
    CLEAN_ERROR = "clean_error"


class Ref(BaseModel):
    """One version of the source: a git tag or commit, a distribution file, a folder."""

    model_config = ConfigDict(frozen=True)

    name: str
    """How the user names it: a tag (`2.10.3`), a ref, `apache-airflow-core==3.1.0`, a folder label."""
    airflow_version: AirflowVersion | None = None
    """The Airflow version this ref belongs to; for a provider distribution, the lowest it supports."""
    revision: str | None = None
    """What pins the content: a commit sha, or a file's sha256."""


class Occurrence(BaseModel):
    """One place a DAG file was seen: a path at a ref."""

    model_config = ConfigDict(frozen=True)

    ref: str
    path: str
    blob: str
    """Content hash of the original file (the git blob sha for git sources)."""


class DagInfo(BaseModel):
    """What static analysis tells about a DAG file's code."""

    dag_ids: list[str] = Field(default_factory=list)
    """Literal DAG ids (names bound to string literals are resolved); computed ids are left out."""
    task_count: int = 0
    """Static count of operator instantiations and TaskFlow task calls in the file."""
    operators: list[str] = Field(default_factory=list)
    """Operator and sensor classes the file instantiates, sorted."""
    imports: list[str] = Field(default_factory=list)
    """Modules the file imports, sorted."""
    schedule: str | None = None
    """The schedule argument of the first DAG, as written (`"@daily"`, `None`, `timedelta(days=1)`)."""
    docstring: str | None = None
    """The module docstring, or the first DAG's literal `doc_md`."""


class DagRecord(DagInfo):
    """A DAG file, cleaned of test scaffolding, with every version and path it appeared in."""

    id: str
    """Stable id: the first 16 hex digits of the sha256 of the cleaned code."""
    code: str
    """The cleaned program: the same DAG without licence header, test harness or doc markers."""
    original_code: str
    """The code as it was in the latest ref it appeared in, before cleaning."""
    cleaning: list[str] = Field(default_factory=list)
    """The cleaning steps that changed this file, e.g. `licence_header`, `watcher`, `test_run`."""
    refs: list[str]
    """Refs it appears in, oldest first."""
    airflow_versions: list[AirflowVersion] = Field(default_factory=list)
    """Distinct Airflow versions of those refs, oldest first."""
    first_version: AirflowVersion | None = None
    last_version: AirflowVersion | None = None
    paths: list[str]
    """Distinct source paths, sorted."""
    occurrences: list[Occurrence]


class Exclusion(BaseModel):
    """A file that is not a record, with its reason: kept so that counts can be checked by hand."""

    blob: str
    reason: ExclusionReason
    detail: str = ""
    paths: list[str] = Field(default_factory=list)


class RefStats(BaseModel):
    """Counts for one ref."""

    files: int = 0
    """Python files seen at this ref."""
    kept: int = 0
    """Of those, files that became (part of) a record."""
    excluded: dict[ExclusionReason, int] = Field(default_factory=dict)


class MineStats(BaseModel):
    """Counts for a whole run."""

    refs: int = 0
    files: int = 0
    """(ref, path) pairs of Python files."""
    distinct_blobs: int = 0
    dag_files: int = 0
    """Distinct blobs that define a DAG, before the test-internals check."""
    kept_blobs: int = 0
    records: int = 0
    """Distinct cleaned programs (several blobs may clean to one)."""
    excluded: dict[ExclusionReason, int] = Field(default_factory=dict)
    """Distinct blobs excluded, by reason."""
    per_ref: dict[str, RefStats] = Field(default_factory=dict)


class MineConfig(BaseModel):
    """Knobs of a mining run. Part of the manifest: a change re-runs the stage."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = 1_000_000
    """Files larger than this are excluded as `too_large`."""
    clean: bool = True
    """Strip licence headers, doc markers and the system-test harness."""
    recover: bool = True
    """Replace test constants (project ids, env ids) by `os.environ.get(...)` with readable defaults."""
    jobs: int = 0
    """Worker processes for parsing and cleaning; 0 means one per CPU."""
