"""`airflow-net mine` invoked in-process, on a real git repository built in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airflow_net.cli import app

DAG = """from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="hello", schedule="@daily") as dag:
    BashOperator(task_id="say", bash_command="echo hi")
"""
SYSTEM_TEST = """from airflow import DAG
from airflow.operators.bash import BashOperator
from tests.system.utils.watcher import watcher

with DAG(dag_id="sys") as dag:
    task = BashOperator(task_id="t", bash_command="true")
    list(dag.tasks) >> watcher()

from tests.system.utils import get_test_run  # noqa: E402

test_run = get_test_run(dag)
"""

runner = CliRunner()


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00",
        "GIT_COMMITTER_DATE": "2024-01-01T00:00:00",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "dags").mkdir()
    (path / "dags" / "hello.py").write_text(DAG)
    (path / "tests" / "system").mkdir(parents=True)
    (path / "tests" / "system" / "example_sys.py").write_text(SYSTEM_TEST)
    (path / "util.py").write_text("def f():\n    return 1\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "one")
    _git(path, "tag", "2.9.0")
    (path / "dags" / "hello.py").write_text(DAG.replace("@daily", "@hourly"))
    _git(path, "commit", "-q", "-am", "two")
    _git(path, "tag", "2.10.0")
    _git(path, "tag", "2.10.1rc1")
    return path


def test_mine_git_writes_records_and_prints_a_summary(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["mine", str(repo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "records (distinct cleaned DAGs)" in result.output
    records = [json.loads(line) for line in (out / "dags.jsonl").read_text().splitlines()]
    assert sorted((r["dag_ids"], r["refs"]) for r in records) == [
        (["hello"], ["2.10.0"]),
        (["hello"], ["2.9.0"]),
        (["sys"], ["2.9.0", "2.10.0"]),
    ]
    system = next(r for r in records if r["dag_ids"] == ["sys"])
    assert "watcher" not in system["code"] and "get_test_run" not in system["code"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["name"] for r in manifest["refs"]] == ["2.9.0", "2.10.0"]

    again = runner.invoke(app, ["mine", str(repo), "--out", str(out)])
    assert again.exit_code == 0
    assert "unchanged: nothing to do" in again.output


def test_mine_explicit_ref_and_pattern(repo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["mine", str(repo), "--out", str(tmp_path / "a"), "--tags", r"rc\d+$"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [r["name"] for r in manifest["refs"]] == ["2.10.1rc1"]
    result = runner.invoke(app, ["mine", str(repo), "--out", str(tmp_path / "b"), "--ref", "main"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mine", "{missing}"], "does not exist"),
        (["mine", "{repo}", "--ref", "9.9.9"], "unknown ref '9.9.9'"),
        (["mine", "{repo}", "--tags", "^nothing$"], "matches '^nothing$'"),
        (["mine", "{plain}", "--kind", "git"], "is not a git repository"),
        (["mine"], "give a SOURCE"),
    ],
)
def test_errors_are_one_line_and_non_zero(repo: Path, tmp_path: Path, args: list[str], message: str) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    filled = [a.format(repo=repo, missing=tmp_path / "missing", plain=plain) for a in args]
    result = runner.invoke(app, [*filled, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_mine_a_wheel_and_a_folder(tmp_path: Path) -> None:
    wheel = tmp_path / "apache_airflow_core-3.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "airflow/example_dags/example_hello.py", DAG.replace("from airflow import", "from airflow.sdk import")
        )
        archive.writestr("apache_airflow_core-3.1.0.dist-info/METADATA", "Name: apache-airflow-core\nVersion: 3.1.0\n")
    result = runner.invoke(app, ["mine", str(wheel), "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "w" / "dags.jsonl").read_text())
    assert record["refs"] == ["apache-airflow-core==3.1.0"]
    assert record["airflow_versions"] == ["3.1.0"]

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "hello.py").write_text(DAG)
    result = runner.invoke(
        app, ["mine", str(folder), "--out", str(tmp_path / "f"), "--label", "prod", "--airflow-version", "2.10.5"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "f" / "dags.jsonl").read_text())
    assert (record["refs"], record["airflow_versions"]) == (["prod"], ["2.10.5"])


def test_uv_run_apps_cli_path_form(repo: Path, tmp_path: Path) -> None:
    """`uv run apps/cli mine ...` executes apps/cli/__main__.py: the same command."""
    main = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(main), "mine", str(repo), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "dags.jsonl").is_file()
