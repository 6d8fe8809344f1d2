"""`airflow-net eval`: the default command, the import level with a real Airflow, compare, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from airflow_net.cli import app

runner = CliRunner()
GOOD = (
    "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n\n"
    'with DAG(dag_id="x", schedule=None):\n    EmptyOperator(task_id="a")\n'
)


def write(path: Path, completions: list[str]) -> Path:
    rows = [
        {"id": f"s{i}", "prompt": f"Make a DAG {i}. Target: Apache Airflow 3.1.3", "completion": c}
        for i, c in enumerate(completions)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_file_is_eval_run_and_goes_to_the_import_level(tmp_path: Path) -> None:
    base = write(tmp_path / "base.jsonl", [f"```python\n{GOOD}```", "no code here", "```python\nwith DAG(\n"])
    tuned = write(tmp_path / "tuned.jsonl", [f"```python\n{GOOD}```"] * 2 + ["```python\nimport airflow.magic\n```"])
    result = runner.invoke(app, ["eval", str(base), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    levels = {row["level"]: row for row in summary["levels"]}
    assert levels["import"]["passed"] == 1 and summary["samples"] == 3
    assert (tmp_path / "b" / "report.html").is_file()
    assert runner.invoke(app, ["eval", "run", str(tuned), "--out", str(tmp_path / "t")]).exit_code == 0
    compared = runner.invoke(
        app, ["eval", "compare", str(tmp_path / "b"), str(tmp_path / "t"), "-o", str(tmp_path / "c")]
    )
    assert compared.exit_code == 0, compared.output
    rows = {r["level"]: r for r in json.loads((tmp_path / "c" / "comparison.json").read_text())}
    assert rows["extract"]["difference"] > 0 and rows["import"]["pairs"] == 3


def test_compare_goes_as_deep_as_the_tuned_run_when_the_base_fails_early(tmp_path: Path) -> None:
    # The base fails at syntax on every answer; the comparison still reaches the tuned run's import level.
    base = write(tmp_path / "base.jsonl", ["```python\nwith DAG(\n```", "```python\ndef (\n```"])
    tuned = write(tmp_path / "tuned.jsonl", [f"```python\n{GOOD}```", "```python\ndef (\n```"])
    for name, file in (("b", base), ("t", tuned)):
        assert runner.invoke(app, ["eval", str(file), "--out", str(tmp_path / name)]).exit_code == 0
    compared = runner.invoke(
        app, ["eval", "compare", str(tmp_path / "b"), str(tmp_path / "t"), "-o", str(tmp_path / "c")]
    )
    assert compared.exit_code == 0, compared.output
    rows = {r["level"]: r for r in json.loads((tmp_path / "c" / "comparison.json").read_text())}
    assert rows["import"]["base_rate"] == 0.0 and rows["import"]["tuned_rate"] == 0.5
    assert rows["import"]["tuned_only"] == 1


def test_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path / "missing.jsonl"), "--level", "lint"])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = runner.invoke(app, ["eval", str(tmp_path), "--level", "nope"])
    assert result.exit_code == 1 and "--level must be one of" in result.output
