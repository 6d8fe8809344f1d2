"""The OpenAI-compatible backend over real HTTP against a local endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daginstruct import BackendError, DagInput, InstructConfig, OpenAICompatBackend, instruct

from .fake_openai import FakeOpenAI

GOOD = "Write an Airflow 3.1 DAG that loads yesterday's orders into BigQuery every morning at six."


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=lambda body: GOOD, delay=0.05) as fake:
        yield fake


def dags(n: int) -> list[DagInput]:
    return [DagInput(id=f"d{i:03d}", code="from airflow import DAG\n", airflow_version="3.1.8") for i in range(n)]


def test_bounded_concurrency_and_results(server: FakeOpenAI, tmp_path: Path) -> None:
    backend = OpenAICompatBackend(server.api_base, "fake-model", concurrency=3)
    summary = instruct(dags(8), tmp_path, InstructConfig(styles=["terse"]), backend=backend)
    assert (summary.written, summary.failed, summary.backend, summary.model) == (8, 0, "openai", "fake-model")
    assert server.max_in_flight == 3
    record = json.loads((tmp_path / "instructions.jsonl").read_text().splitlines()[0])
    assert record["text"] == GOOD
    assert record["usage"]["output_tokens"] == len(GOOD) // 4
    assert summary.cost_usd is None  # no price for a local model


def test_retries_on_429_and_500(server: FakeOpenAI, tmp_path: Path) -> None:
    server.fail_next("POST", r"chat/completions", 429)
    server.fail_next("POST", r"chat/completions", 500)
    backend = OpenAICompatBackend(server.base_url, "fake-model", concurrency=1)
    summary = instruct(dags(1), tmp_path, InstructConfig(styles=["terse"]), backend=backend)
    assert summary.written == 1
    assert server.pending_faults == 0


def test_rejects_are_asked_again_then_given_up(tmp_path: Path) -> None:
    def responder(body: dict[str, Any]) -> str:
        return "import os"

    with FakeOpenAI(responder=responder) as fake:
        backend = OpenAICompatBackend(fake.api_base, "fake-model", max_attempts=2)
        summary = instruct(dags(1), tmp_path, InstructConfig(styles=["terse"]), backend=backend)
        assert fake.count_calls("POST", r"chat/completions") == 2
    assert (summary.written, summary.failed, summary.rejects) == (0, 1, {"contains_code": 2})


def test_hard_errors_are_clear(server: FakeOpenAI, tmp_path: Path) -> None:
    server.fail_next("POST", r"chat/completions", 400)
    backend = OpenAICompatBackend(server.api_base, "fake-model", max_retries=0)
    with pytest.raises(BackendError, match="HTTP 400"):
        instruct(dags(1), tmp_path, InstructConfig(styles=["terse"]), backend=backend)
