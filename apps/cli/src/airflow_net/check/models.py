"""What the check finds: one row per file, and the folder's totals."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

from dageval import AirFinding


class FileCheck(BaseModel):
    path: str
    """Relative to the checked folder."""
    loads_before: bool
    """It loads (a DAG with tasks, no import error) in the version migrated from."""
    loads_after: bool
    error_before: str | None = None
    """`category: message` in the version migrated from, when it does not load there."""
    error_after: str | None = None
    """`category: message` in the target version: what a user sees when the file breaks."""
    rule: AirFinding | None = None
    """The ruff AIR rule whose finding names what the target error names, with its fix where ruff has one."""
    findings: list[AirFinding] = Field(default_factory=list)
    """Every AIR3xx finding (Airflow 3 migration rules) in the file."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def breaks(self) -> bool:
        """It loads in the version migrated from and not in the target: what the check fails on."""
        return self.loads_before and not self.loads_after


class CheckReport(BaseModel):
    folder: str
    from_version: str
    """The exact release the folder was loaded in first (a series means its newest installed release)."""
    to_version: str
    seconds: float
    """Wall time of the whole check: both runtimes' workers, every load, ruff."""
    files: list[FileCheck]

    @property
    def breaking(self) -> list[FileCheck]:
        return [f for f in self.files if f.breaks]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "load_before": sum(f.loads_before for f in self.files),
            "load_after": sum(f.loads_after for f in self.files),
            "break": len(self.breaking),
            "fixed": sum(f.loads_after and not f.loads_before for f in self.files),
            "explained_by_a_rule": sum(f.breaks and f.rule is not None for f in self.files),
        }

    @computed_field  # type: ignore[prop-decorator]
    @property
    def files_per_second(self) -> float:
        return len(self.files) / self.seconds if self.seconds > 0 else 0.0
