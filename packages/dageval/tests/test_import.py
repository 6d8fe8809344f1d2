"""Level 5 with a real Apache Airflow: an isolated runtime (made once with uv, cached), sandboxed workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dageval
from dageval import Level, Sample
from dageval.runtime import default_root, provider_distribution

HEAD3 = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="d", schedule=None) as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b
"""

CASES = {
    "good": (HEAD3, None),
    "hallucinated_module": ("from airflow.operators.magic import MagicOperator\n" + HEAD3, "hallucinated_module"),
    "missing_provider_module": (
        "from airflow.providers.standard.operators.teleport import TeleportOperator\n" + HEAD3,
        "hallucinated_module",
    ),
    "unknown_provider": ("from airflow.providers.nosuchvendorxyz.hooks.x import XHook\n" + HEAD3, "unknown_provider"),
    "cycle_via_set": (HEAD3 + "    b.set_downstream(a)\n", None),  # static check misses it: Airflow must not
    "infinite_loop": (HEAD3 + "while True:\n    pass\n", "timeout"),
    "memory_bomb": (HEAD3 + "hog = bytearray(8 * 1024**3)\n", "import_error"),
    "os_exit": (HEAD3 + "import os\nos._exit(3)\n", "exited"),
    "sys_exit": (HEAD3 + "import sys\nsys.exit(1)\n", "import_error"),
    "network": (HEAD3 + "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n", "import_error"),
    "secrets": (HEAD3 + "import os\nassert 'DAGEVAL_SECRET' not in os.environ, 'leaked'\n", None),
    "signals": (HEAD3 + "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n", None),
    "huge_output": (HEAD3 + "print('x' * 50_000_000)\n", None),
    "recursion": (HEAD3 + "def f(n):\n    return f(n + 1)\nf(0)\n", "import_error"),
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dageval.Verdict]:
    os.environ["DAGEVAL_SECRET"] = "do-not-leak"
    samples = [
        Sample(id=name, completion=f"```python\n{code}```", airflow_version="3.1.3")
        for name, (code, _) in CASES.items()
    ]
    result = dageval.evaluate(samples, level=Level.IMPORT, import_workers=2)
    return {v.sample_id: v for v in result}


def test_runtime_is_cached_outside_the_project() -> None:
    assert default_root().name == "runtimes"
    assert provider_distribution("google.cloud.operators.bigquery") == "apache-airflow-providers-google"
    assert provider_distribution("apache.spark.operators.x") == "apache-airflow-providers-apache-spark"
    assert provider_distribution("common.sql.operators.sql") == "apache-airflow-providers-common-sql"


def test_known_good_dag_loads(verdicts: dict[str, dageval.Verdict]) -> None:
    good = verdicts["good"]
    assert good.passed == Level.IMPORT
    assert "1 DAG(s), 2 task(s)" in good.results[-1].message


@pytest.mark.parametrize("name", [n for n, (_, c) in CASES.items() if c is not None])
def test_deliberate_errors_get_their_category(verdicts: dict[str, dageval.Verdict], name: str) -> None:
    failure = verdicts[name].failure
    assert failure is not None and failure.level == Level.IMPORT, verdicts[name].results
    assert failure.category == CASES[name][1], failure.message


def test_cycle_found_by_airflow(verdicts: dict[str, dageval.Verdict]) -> None:
    failure = verdicts["cycle_via_set"].failure
    assert failure is not None and failure.category == "cycle"


@pytest.mark.parametrize("name", ["signals", "huge_output", "secrets"])
def test_hostile_files_are_contained_and_the_run_goes_on(verdicts: dict[str, dageval.Verdict], name: str) -> None:
    verdict = verdicts[name]
    assert verdict.results[-1].level == Level.IMPORT  # judged, and the evaluator went on
    if name == "secrets":
        assert verdict.passed == Level.IMPORT  # the scrubbed environment has no secret to leak


def test_the_host_process_is_unaffected(verdicts: dict[str, dageval.Verdict]) -> None:
    assert len(verdicts) == len(CASES)
    assert os.environ["DAGEVAL_SECRET"] == "do-not-leak"
    assert Path.cwd().exists()


def test_the_same_file_on_two_airflow_versions() -> None:
    """`schedule_interval` was removed in Airflow 3: valid on 2.10 (a real import, DB migrated once), not on 3."""
    code = """from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="old_style", schedule_interval="@daily", start_date=datetime(2024, 1, 1)) as dag:
    EmptyOperator(task_id="a")
"""
    samples = [
        Sample(id="on2", completion=f"```python\n{code}```", airflow_version="2.10.5"),
        Sample(id="on3", completion=f"```python\n{code}```", airflow_version="3.1.3"),
    ]
    on2, on3 = dageval.evaluate(samples, level=Level.IMPORT)
    assert on2.passed == Level.IMPORT, on2.results
    failure = on3.failure
    assert failure is not None and failure.category == "removed_in_airflow_3"
