"""Runtimes resolved as of their release and checked before use; a broken one is the environment's failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import dageval
from dageval import Level, Sample
from dageval._asof import _version_of
from dageval.runtime import Runtime, _uv, installed_runtimes, provider_module


def test_release_file_names_map_to_their_version() -> None:
    assert _version_of("apache_airflow-2.10.5-py3-none-any.whl", "apache-airflow") == "2.10.5"
    assert _version_of("apache_airflow-2.10.5.tar.gz", "apache-airflow") == "2.10.5"
    assert _version_of("apache-airflow-1.10.15.tar.gz", "apache-airflow") == "1.10.15"
    assert _version_of("apache_airflow_core-3.1.3-py3-none-any.whl", "apache-airflow") == ""
    assert provider_module("apache-airflow-providers-cncf-kubernetes") == "airflow.providers.cncf.kubernetes"
    assert provider_module("apache-airflow-providers-common-sql") == "airflow.providers.common.sql"


def test_environment_check_finds_a_clash_and_a_failing_import(tmp_path: Path) -> None:
    """A real venv whose packages do not hold together: `uv pip check` says so, and so does an import."""
    runtime = Runtime("9.9.9", tmp_path)
    made = subprocess.run([_uv(), "venv", str(runtime.dir)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert runtime.check_environment(["json"]) is None
    assert "import failed: ModuleNotFoundError" in (runtime.check_environment(["airflow"]) or "")
    site = next((runtime.dir / "lib").glob("python*/site-packages"))
    # A distribution that needs another one which is absent: what a half-resolved environment looks like.
    info = site / "needs_missing-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: needs-missing\nVersion: 1.0\nRequires-Dist: nosuchdep>=1\n"
    )
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("test\n")
    why = runtime.check_environment(["json"]) or ""
    assert why.startswith("uv pip check") and "nosuchdep" in why


def test_a_broken_runtime_is_runtime_broken_never_the_files_fault(tmp_path: Path) -> None:
    runtime = Runtime("2.7.3", tmp_path)
    runtime.dir.mkdir(parents=True)
    state = {"providers": {}, "exclude_newer": "2023-11-07T05:43:57Z", "broken": "uv pip check: pendulum 3.0.0"}
    runtime.state_file.write_text(json.dumps(state))
    with pytest.raises(dageval.RuntimeBrokenError, match=r"runtime is broken .*dageval runtime remove 2\.7\.3"):
        runtime.ensure()
    assert installed_runtimes(tmp_path) == []  # not a runtime to judge on
    code = (
        "from airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\n\n"
        "with DAG('d'):\n    EmptyOperator(task_id='a')\n"
    )
    [verdict] = dageval.evaluate(
        [Sample(id="s", completion=code, airflow_version="2.7.3")], level=Level.IMPORT, runtime_root=tmp_path
    )
    assert verdict.failure is not None and verdict.failure.category == "runtime_broken"
    assert verdict.passed == Level.LINT  # judged up to where the model's own work was checked
