"""`load_files`: the import level alone, in a real Airflow; `air_findings`: ruff's AIR rules with their fixes."""

from __future__ import annotations

import pytest

import dageval

OLD = """from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("old", schedule_interval="@daily", start_date=datetime(2024, 1, 1)) as dag:
    DummyOperator(task_id="a")
"""


def test_air_findings_carry_ruffs_fix() -> None:
    old, clean = dageval.air_findings([OLD, "x = 1\n"])
    assert clean == []
    by_code = {f.code: f for f in old}
    assert by_code["AIR301"].fix == "Use `schedule` instead" and by_code["AIR301"].fix_safe
    assert "EmptyOperator" in (by_code["AIR302"].fix or "") and by_code["AIR302"].line == 7


def test_a_file_ruff_flags_is_still_loaded_in_each_version() -> None:
    # The runtimes are made on first use (minutes, once; cached and shared with the other tests).
    version, (on_2,) = dageval.load_files([OLD], "2.10", install_runtime=True, install_providers=False, workers=1)
    assert version.startswith("2.10.") and on_2.ok and "1 task(s)" in on_2.message
    version, (on_3,) = dageval.load_files([OLD], "3.1", install_runtime=True, install_providers=False, workers=1)
    assert version.startswith("3.1.") and not on_3.ok and on_3.category == "hallucinated_module"


def test_a_missing_runtime_is_not_made_unless_asked() -> None:
    with pytest.raises(dageval.RuntimeUnavailableError, match=r"no Airflow 2\.6\.3 runtime installed"):
        dageval.load_files(["x = 1\n"], "2.6.3")
