"""`airflow-net check`: a real folder loaded in real Airflow 2.10 and 3.1 runtimes; the config's version is the
default target and a flag overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airflow_net.cli import app

runner = CliRunner()
OLD = """from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("old", schedule_interval="@daily", start_date=datetime(2024, 1, 1)) as dag:
    DummyOperator(task_id="a")
"""
FINE = """from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("fine", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
"""
BROKEN = "from airflow import DAG\nimport airflow.nothing_here\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    (dags / "old.py").write_text(OLD)
    (dags / "team" / "fine.py").write_text(FINE)
    (dags / "broken.py").write_text(BROKEN)
    (dags / "helper.py").write_text("RETRIES = 3\n")  # no DAG: Airflow does not parse it, neither does the check
    return dags


def test_check_finds_the_file_that_breaks_on_3_and_the_rule_that_fixes_it(folder: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["config", "set", "airflow_version", "3.1"]).exit_code == 0
    result = runner.invoke(app, ["check", str(folder), "--from", "2.10", "--json"])  # --to from the config
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["from_version"].startswith("2.10.") and report["to_version"].startswith("3.1.")
    rows = {row["path"]: row for row in report["files"]}
    assert sorted(rows) == ["broken.py", "old.py", "team/fine.py"]
    old = rows["old.py"]
    assert old["loads_before"] and not old["loads_after"]
    assert old["error_after"].startswith("no_such_module: airflow.operators.dummy")
    assert old["rule"]["code"] == "AIR302" and "EmptyOperator" in old["rule"]["fix"]
    assert {"AIR301", "AIR302"} <= {f["code"] for f in old["findings"]}
    assert rows["team/fine.py"]["loads_before"] and rows["team/fine.py"]["loads_after"]
    assert not rows["broken.py"]["loads_before"] and not rows["broken.py"]["loads_after"]  # not a break
    assert [r["path"] for r in report["files"] if r["breaks"]] == ["old.py"]
    assert report["counts"] == {
        "files": 3, "load_before": 2, "load_after": 1, "break": 1, "fixed": 0, "explained_by_a_rule": 1
    }  # fmt: skip

    page = tmp_path / "report.html"
    result = runner.invoke(app, ["check", str(folder), "--to", "2.10", "--report", str(page)])  # the flag wins
    assert result.exit_code == 0, result.output
    assert "2.10.5" in result.output and "0 break" in result.output
    assert "<strong>0 break</strong>" in page.read_text()


def test_check_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "is not a folder" in result.output
    result = runner.invoke(app, ["check", str(tmp_path), "--to", "3.1"])
    assert result.exit_code == 1 and "no DAG file" in result.output
