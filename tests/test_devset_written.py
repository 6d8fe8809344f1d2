"""The written dev set (bench/devset-written.jsonl): judged like the benchmark, and apart from it and the composer.

Levers are chosen on it, so it must be far from the benchmark (else choosing on it is choosing on the benchmark)
and from the composer's requests (else it measures the composer's templates, as the composed dev set does).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import dageval
import dagsynth
from dagcore import AirflowVersion
from dagdata._leaks import closest

WRITTEN = Path(__file__).parents[1] / "bench" / "devset-written.jsonl"
SERIES = ("2.9", "2.10", "3.0", "3.1")
FORBIDDEN = ("`", "def ", "import ", ".py", "dag_id", "task_id")
SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9]+_[a-z0-9_]+\b")


def _rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def _benchmark_requests() -> list[str]:
    return [json.loads(line)["request"] for line in dageval.benchmark_file().read_text().splitlines() if line.strip()]


def test_rows_are_judgeable_like_the_benchmark() -> None:
    rows = _rows()
    assert Counter(str(r["airflow_version"]) for r in rows) == dict.fromkeys(SERIES, 50)
    assert len({r["id"] for r in rows}) == len(rows) == len({str(r["request"]).lower() for r in rows})
    for row in rows:
        AirflowVersion(str(row["airflow_version"]))
        dageval.Expect.model_validate(row["expect"])  # the intent level's own model: unknown fields are refused
        assert 2 <= len(row["tags"]) <= 6, row["id"]  # type: ignore[arg-type]
    expects = [dageval.Expect.model_validate(r["expect"]) for r in rows]
    assert sum(e != dageval.Expect() for e in expects) >= 0.8 * len(rows)  # most rows pin down something checkable


def test_wording_follows_the_benchmark_rules() -> None:
    for row in _rows():
        text, version = str(row["request"]), str(row["airflow_version"])
        assert len(text) <= 600 and not any(bad in text for bad in FORBIDDEN), row["id"]
        assert not SNAKE.search(text), (row["id"], SNAKE.search(text))
        # Data-aware scheduling is a dataset in 2.x and an asset in 3.x; SLAs are gone in 3.x.
        if version.startswith("2."):
            assert "asset" not in text.lower(), row["id"]
        else:
            assert "dataset" not in text.lower() and "sla" not in row["tags"], row["id"]  # type: ignore[operator]


def test_far_from_the_benchmark_and_from_the_composer() -> None:
    written = [str(r["request"]) for r in _rows()]
    assert max(closest(written, _benchmark_requests())) < 0.15  # measured 0.11: shared words, no shared request
    composed = [q for d in dagsynth.compose(100, list(SERIES)) for q in d.requests]
    assert max(closest(composed, written)) < 0.3
