"""`airflow-net generate --spec`: the model is asked for a DAG spec under its schema, and the file is rendered."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from airflow_net.cli import app
from dagcore import python_answer_grammar
from dagcore.testing import ScriptedModel
from dagsynth.spec import SPEC_EXAMPLE, SPEC_RESPONSE_FORMAT, spec_messages, spec_text

runner = CliRunner()


def test_generate_spec_asks_for_a_spec_and_writes_the_file_for_the_target_version(tmp_path: Path) -> None:
    _, example = SPEC_EXAMPLE
    model = ScriptedModel(['{"dag_id": "cut', spec_text(example)])  # the first cut short: asked again
    out = tmp_path / "dag.py"
    try:
        done = runner.invoke(
            app,
            [
                "generate",
                "Export the users every Monday at 7pm.",
                "--spec",
                "--endpoint",
                model.url,
                "--airflow-version",
                "2.10",
                "--level",
                "lint",
                "--out",
                str(out),
            ],
        )
    finally:
        model.close()
    assert done.exit_code == 0, done.output
    first, second = model.requests
    assert first["messages"] == spec_messages("Export the users every Monday at 7pm.")
    assert first["response_format"] == SPEC_RESPONSE_FORMAT and second["temperature"] > 0  # asked afresh, sampled
    code = out.read_text(encoding="utf-8")
    assert "from airflow.operators.bash import BashOperator" in code  # 2.10's path, not the standard provider's
    assert 'schedule="0 19 * * 1"' in code and "no_code" in done.output
    model = ScriptedModel([spec_text(example)])
    try:
        args = ["generate", "Export the users weekly.", "--spec-tuned", "--endpoint", model.url, "--level", "syntax"]
        assert runner.invoke(app, args).exit_code == 0
    finally:
        model.close()
    assert model.requests[0]["messages"] == spec_messages("Export the users weekly.", guide=False)


def test_generate_sends_the_python_answer_grammar_on_every_attempt_unless_free() -> None:
    answers = ["```python\nx = (\n```", "```python\nfrom airflow import DAG\n\nd = DAG('a')\n```"]
    model = ScriptedModel(answers)
    try:
        args = ["generate", "A DAG named a.", "--endpoint", model.url, "--level", "syntax"]
        done = runner.invoke(app, args)  # dagcore.GRAMMAR_BY_DEFAULT
    finally:
        model.close()
    assert done.exit_code == 0, done.output
    assert [r["grammar"] for r in model.requests] == [python_answer_grammar()] * 2  # the retry too
    model = ScriptedModel(answers)
    try:
        args = ["generate", "A DAG named a.", "--endpoint", model.url, "--level", "syntax"]
        free = runner.invoke(app, [*args, "--free"])
        runner.invoke(app, [*args, "--spec"])  # a spec keeps its JSON schema: no Python grammar on top
    finally:
        model.close()
    assert free.exit_code == 0, free.output
    first, retry, *spec_requests = model.requests
    assert "grammar" not in first and retry["grammar"] == python_answer_grammar()  # --free: the first answer only
    assert spec_requests and all("grammar" not in r and "response_format" in r for r in spec_requests)
