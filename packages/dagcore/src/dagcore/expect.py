"""What a request promises that a judge can check: composed by dagsynth, written into benchmark rows, read by
dageval's intent level. One model, so a field the composer promises is one the judge knows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Feature = Literal[
    "mapping", "branching", "task_group", "sensor", "deferrable", "params", "retries", "callbacks", "taskflow",
    "trigger_rule",
]  # fmt: skip


class Expect(BaseModel):
    """What a request's DAG must show; every field is optional and all given ones must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str | None = None
    """A cron expression or preset (`@daily` equals `0 0 * * *`), `asset` (triggered by assets or datasets),
    or `none` (only triggered by hand)."""
    providers: list[str] = Field(default_factory=list)
    """Provider packages the file must import from: `postgres`, `amazon`, `cncf.kubernetes`, ..."""
    features: list[Feature] = Field(default_factory=list)
    min_tasks: int | None = None
