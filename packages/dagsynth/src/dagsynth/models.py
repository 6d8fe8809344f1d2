"""The records dagsynth writes: a composed DAG file with its requests, and what a run kept and why."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from dagcore import AirflowVersion, Expect


class ComposedDag(BaseModel):
    id: str
    dag_id: str
    airflow_version: AirflowVersion
    code: str
    requests: list[str]
    """Each a request a person could write for this file: a terse one and a conversational one."""
    expect: Expect
    kinds: list[str]
    """The step kinds used (`postgres`, `s3_sensor`, ...): failures are counted per kind."""
    design: str = ""
    """The draw this file was composed from; its version twin (the other major) shares it."""
    broken: str | None = None
    """For a broken version of a file (a repair lesson's first answer): the kind of mistake (`dagsynth.breaks`)."""


class Verdict(BaseModel):
    """A judge's answer for one composed file: kept only when it loads and shows what its request says."""

    ok: bool
    level: str = ""
    """The judge's level that failed (`import`, `intent`), as the repair loop names it to the model."""
    category: str = ""
    message: str = ""


class ComposeSummary(BaseModel):
    out_dir: Path
    skipped: bool = False
    composed: int = 0
    kept: int = 0
    twins: int = 0
    """Kept designs with a file for each Airflow major under the same request (see `compose`)."""
    by_version: dict[str, int] = Field(default_factory=dict)
    """Kept files per Airflow series."""
    rejected: dict[str, int] = Field(default_factory=dict)
    """Dropped files per failure category (`import_error`, `intent`, ...)."""
    rejected_kinds: dict[str, int] = Field(default_factory=dict)
    """Dropped files per step kind they used: where a catalog entry is wrong for a version."""
    repairs: dict[str, int] = Field(default_factory=dict)
    """Repair lessons written, per kind of mistake."""
    repairs_loaded: dict[str, int] = Field(default_factory=dict)
    """Broken versions the judge passed (so no lesson), per kind: a mistake that Airflow tolerates."""
    dags_file: Path | None = None
    instructions_file: Path | None = None
