"""What dagdata reads from the stages before it: its own view of their records, the fields it uses.

dagmine's `DagRecord` and daginstruct's `Instruction` fit these views (extra fields are ignored), so dagdata
needs neither package installed, nor their git, libcst and Anthropic dependencies.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dagcore import AirflowVersion


class MinedDag(BaseModel):
    """One mined DAG file (a line of dagmine's `dags.jsonl`)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    """dagmine's stable hash of the cleaned code; requests name it as their `dag_id`."""
    code: str
    """The cleaned file: the answer a conversation teaches."""
    paths: list[str] = Field(default_factory=list)
    """Where the file lived: the same path across versions is one lineage, kept in one split."""
    operators: list[str] = Field(default_factory=list)
    imports: list[str] = Field(default_factory=list)
    last_version: AirflowVersion | None = None
    """The newest Airflow release the file was seen in."""


class RepairLesson(BaseModel):
    """A broken first answer and what a real Airflow said of it (the fields of dagcore's `Judgement`)."""

    model_config = ConfigDict(extra="ignore")

    code: str
    level: str | None = None
    category: str | None = None
    message: str


class Request(BaseModel):
    """One user request for a DAG (a line of daginstruct's `instructions.jsonl`)."""

    model_config = ConfigDict(extra="ignore")

    custom_id: str
    dag_id: str
    style: str
    text: str
    airflow_version: AirflowVersion | None = None
    """The Airflow release the request targets."""
    repair: RepairLesson | None = None
    """A repair lesson (dagsynth): the conversation shows this broken answer and the judge's words on it, and
    teaches the file as the fix."""
