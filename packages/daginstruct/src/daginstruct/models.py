"""Typed records that cross daginstruct's boundary."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from dagcore import AirflowVersion


class DagInput(BaseModel):
    """What a request needs from a DAG. dagmine's records fit (`last_version` is read as the version)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    code: str
    airflow_version: AirflowVersion | None = Field(
        default=None, validation_alias=AliasChoices("airflow_version", "last_version", "version")
    )
    """The Airflow version the request asks for; for a DAG seen in several, the latest."""
    dag_ids: list[str] = Field(default_factory=list)
    operators: list[str] = Field(default_factory=list)
    task_count: int = 0
    schedule: str | None = None
    docstring: str | None = None


class InstructionRequest(BaseModel):
    """One request to a model: write the user's request for one DAG in one style."""

    model_config = ConfigDict(frozen=True)

    custom_id: str
    """`{dag id}-{style}`: deterministic, so a resumed run recognises what it already has."""
    dag_id: str
    style: str
    airflow_version: AirflowVersion | None
    system: str
    prompt: str
    max_tokens: int


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class Instruction(BaseModel):
    """A natural-language request for a DAG, as a data engineer would have typed it."""

    custom_id: str
    dag_id: str
    """The DAG record's id (dagmine's stable hash of its code)."""
    style: str
    text: str
    airflow_version: AirflowVersion | None
    """The Airflow release the request targets (the DAG's); the text names its series as users do."""
    backend: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 1
    cleaned: list[str] = Field(default_factory=list)
    """What validation fixed in the model's answer (`preamble`, `quotes`, `version_added`)."""


class Outcome(BaseModel):
    """What happened to one request in one attempt, for the store and the counts."""

    custom_id: str
    ok: bool
    reason: str = ""
    """`errored`, `expired`, `canceled`, or a validation reject such as `contains_code`."""
    text: str = ""
    usage: Usage = Field(default_factory=Usage)
    source: str = ""
    """Where the answer came from (a batch id): one failure is counted once, however often it is read."""
