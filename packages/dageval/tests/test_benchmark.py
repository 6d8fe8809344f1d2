"""The hand-written benchmark of DAG requests (requests-v1.jsonl): format, balance and wording rules."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from importlib.resources import files
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

VERSIONS = ("2.9", "2.10", "3.0", "3.1")
SCHEDULE_KINDS = {"cron", "preset", "timetable", "asset_schedule", "manual"}
STYLES = {"taskflow", "classic"}
FEATURE_TAGS = {
    "branching",
    "mapping",
    "sensor",
    "deferrable",
    "task_group",
    "retries",
    "callbacks",
    "sla",
    "xcom",
    "params",
    "trigger_rule",
    "catchup",
}
PROVIDER_TAGS = {
    "postgres",
    "amazon",
    "google",
    "snowflake",
    "http",
    "slack",
    "docker",
    "kubernetes",
    "dbt",
    "sftp",
    "email",
    "bash",
    "python",
}
TAGS = SCHEDULE_KINDS | STYLES | FEATURE_TAGS | PROVIDER_TAGS

Provider = Literal[
    "postgres",
    "amazon",
    "google",
    "snowflake",
    "http",
    "slack",
    "docker",
    "cncf.kubernetes",
    "sftp",
    "ssh",
    "smtp",
    "common.sql",
]
Feature = Literal[
    "mapping",
    "branching",
    "task_group",
    "sensor",
    "deferrable",
    "params",
    "retries",
    "callbacks",
    "taskflow",
    "trigger_rule",
]

CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
SNAKE = re.compile(r"\b[a-z]+_[a-z]+_[a-z_]+\b")
FORBIDDEN = ("`", "def ", "import ", ".py", "dag_id", "task_id")


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str | None = None
    providers: list[Provider] | None = None
    features: list[Feature] | None = None
    min_tasks: int | None = Field(default=None, ge=1)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None or value in {"asset", "none"} or (value.startswith("@") and len(value) > 1):
            return value
        fields = value.split(" ")
        if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"schedule {value!r} is neither asset, none, a preset nor a 5-field cron")
        return value


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^r\d{3,}$")
    request: str = Field(min_length=10, max_length=600)
    airflow_version: Literal["2.9", "2.10", "3.0", "3.1"]
    tags: list[str] = Field(min_length=2, max_length=6)
    expect: Expect


@cache
def rows() -> tuple[Row, ...]:
    text = (files("dageval") / "benchmarks" / "requests-v1.jsonl").read_text(encoding="utf-8")
    return tuple(Row.model_validate(json.loads(line)) for line in text.splitlines() if line.strip())


def sentences(text: str) -> int:
    return len([part for part in SENTENCE_END.split(text) if part.strip()])


def test_size_and_uniqueness() -> None:
    data = rows()
    assert len(data) >= 120
    ids = Counter(r.id for r in data)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    requests = Counter(" ".join(r.request.lower().split()) for r in data)
    assert not [q for q, n in requests.items() if n > 1], "duplicate requests"


def test_versions_balanced() -> None:
    counts = Counter(r.airflow_version for r in rows())
    assert set(counts) <= set(VERSIONS)
    for version in VERSIONS:
        assert counts[version] >= 25, (version, counts[version])


def test_tags_from_vocabulary_and_used() -> None:
    counts: Counter[str] = Counter()
    for row in rows():
        assert len(set(row.tags)) == len(row.tags), row.id
        unknown = set(row.tags) - TAGS
        assert not unknown, (row.id, unknown)
        counts.update(row.tags)
    for tag in sorted(TAGS):
        assert counts[tag] >= 5, (tag, counts[tag])


def test_expect_mostly_present() -> None:
    data = rows()
    filled = sum(1 for r in data if r.expect.model_dump(exclude_none=True))
    assert filled >= 0.7 * len(data)


@pytest.mark.parametrize("row", rows(), ids=lambda r: r.id)
def test_request_wording(row: Row) -> None:
    text = row.request
    assert 1 <= sentences(text) <= 4, (row.id, sentences(text))
    assert len(text) <= 600
    for bad in FORBIDDEN:
        assert bad not in text, (row.id, bad)
    assert not SNAKE.search(text), (row.id, SNAKE.search(text))
