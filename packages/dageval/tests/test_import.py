"""Level 5 with a real Apache Airflow: an isolated runtime (made once with uv, cached), sandboxed workers."""

from __future__ import annotations

import uuid

import pytest

import dageval
from dageval import Level, Sample
from dageval.runtime import Runtime, default_root, provider_distribution

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
    # Not a provider Airflow publishes: never installed (a file must not choose what is installed from the index)
    "refused_provider": ("from airflow.providers.nosuchvendorxyz.hooks.x import XHook\n" + HEAD3, "provider_refused"),
    "cycle_via_set": (HEAD3 + "    b.set_downstream(a)\n", None),  # static check misses it: Airflow must not
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dageval.Verdict]:
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


def test_a_refused_provider_is_never_installed(verdicts: dict[str, dageval.Verdict]) -> None:
    failure = verdicts["refused_provider"].failure
    assert failure is not None and "apache-airflow-providers-nosuchvendorxyz" in failure.message
    runtime = Runtime("3.1.3")
    allowed = runtime.allowed_providers()
    assert {"apache-airflow-providers-standard", "apache-airflow-providers-amazon"} <= allowed
    # A name no run has seen: the runtimes are shared, and older dageval versions recorded what they tried.
    fresh = f"apache-airflow-providers-nosuchvendor{uuid.uuid4().hex[:8]}"
    assert fresh not in allowed
    assert runtime.add_providers([fresh]).get(fresh) is None
    assert fresh not in runtime.ensure().providers, "it was tried"


def test_cycle_found_by_airflow(verdicts: dict[str, dageval.Verdict]) -> None:
    failure = verdicts["cycle_via_set"].failure
    assert failure is not None and failure.category == "cycle"


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


# Real providers with a module and class each; the test takes the first this runtime has not installed, since
# the runtimes are shared (the laptop pipeline, other tests and users add providers to them).
_REAL_PROVIDERS = {
    "apache-airflow-providers-neo4j": "from airflow.providers.neo4j.operators.neo4j import Neo4jOperator",
    "apache-airflow-providers-influxdb": "from airflow.providers.influxdb.operators.influxdb import InfluxDBOperator",
    "apache-airflow-providers-snowflake": "from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook",
}


def test_errors_only_airflow_sees_and_a_provider_left_out() -> None:
    """A duplicate id made in a loop (the static level cannot tell), and a real provider not installed."""
    installed = Runtime("3.1.3").ensure().providers
    absent = [name for name in _REAL_PROVIDERS if name not in installed]
    if not absent:
        pytest.skip("every candidate provider is installed in the shared 3.1.3 runtime")
    distribution = absent[0]
    duplicate = HEAD3 + "    for _ in range(2):\n        EmptyOperator(task_id='same')\n"
    provider = _REAL_PROVIDERS[distribution] + "\n" + HEAD3
    samples = [
        Sample(id="dup", completion=f"```python\n{duplicate}```", airflow_version="3.1.3"),
        Sample(id="provider", completion=f"```python\n{provider}```", airflow_version="3.1.3"),
    ]
    dup, missing = dageval.evaluate(samples, level=Level.IMPORT, install_providers=False)
    assert dup.failure is not None and dup.failure.level == Level.IMPORT, dup.results
    assert dup.failure.category == "duplicate_task_id", dup.failure.message
    assert missing.failure is not None and missing.failure.category == "provider_not_installed", missing.results
    assert distribution in missing.failure.message


def test_shared_checkers_start_each_runtimes_workers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from dageval import importer
    from dageval.validator import Validator

    started: list[importer._Worker] = []
    real = importer._Worker.__init__

    def counted(self: importer._Worker, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        started.append(self)

    monkeypatch.setattr(importer._Worker, "__init__", counted)
    sample = Sample(id="good", completion=f"```python\n{HEAD3}```", airflow_version="3.1.3")
    with importer.shared_checkers() as pool:
        first = dageval.evaluate([sample], level=Level.IMPORT, import_workers=2)
        with Validator(Level.IMPORT) as validator:  # one worker asked: the pool's two serve it
            check = validator.validate(HEAD3, "3.1.3")
        second = dageval.evaluate([sample], level=Level.IMPORT, import_workers=2)
        assert importer.active_pool() is pool
        assert all(worker.alive() for worker in started)  # the Validator's close leaves the pool's workers be
    assert first[0].passed == second[0].passed == Level.IMPORT and check.ok
    assert len(started) == 2
    assert importer.active_pool() is None
    assert not any(worker.alive() for worker in started)
    # Without a pool, each judgement starts its own and stops them.
    dageval.evaluate([sample], level=Level.IMPORT, import_workers=2)
    assert len(started) == 4 and not any(worker.alive() for worker in started)
