"""Secret-looking values never reach a verdict message, at any level."""

from __future__ import annotations

import pytest

from dageval import Level, LevelResult
from dageval._scrub import scrub

SECRETS = {
    "fernet": "RuntimeError: 9Ns4x2f0yq6oA1c3V5b7n9m2K4j6H8g0F2d4S6a8Q0w=",
    "aws": "botocore error for AKIAIOSFODNN7EXAMPLE",
    "github": "token ghp_0123456789abcdefghijABCDEFGHIJ012345 refused",
    "api key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
    "named": "ValueError: password='hunter2hunter2' is wrong",
    "url": "could not connect to postgresql://airflow:s3cr3tpass@db:5432/airflow",
    "jwt": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("name", SECRETS)
def test_secret_looking_values_are_redacted(name: str) -> None:
    text = SECRETS[name]
    scrubbed = scrub(text)
    assert "[redacted]" in scrubbed, scrubbed
    for word in ("9Ns4x2f0", "AKIAIOSF", "ghp_0123", "sk-ant", "hunter2", "s3cr3tpass", "dozjgNry"):
        assert word not in scrubbed


def test_values_of_secret_environment_variables_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-looking-value-42")
    result = LevelResult(level=Level.IMPORT, ok=False, category="import_error", message="got plain-looking-value-42")
    assert result.message == "got [redacted]"


def test_ordinary_messages_are_left_alone() -> None:
    text = "cannot import name 'EmptyOperator' from 'airflow.operators' (task_id='extract_2024')"
    assert scrub(text) == text
