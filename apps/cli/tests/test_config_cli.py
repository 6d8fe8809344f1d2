"""`airflow-net config`: a TOML file under $XDG_CONFIG_HOME; `generate` reads it and a flag overrides it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airflow_net.cli import app
from dagcore.testing import ScriptedModel

runner = CliRunner()
ANSWER = "```python\nfrom airflow.sdk import DAG\n\nwith DAG(dag_id='x'):\n    pass\n```"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "airflow-net" / "config.toml"


def test_set_show_unset_and_errors(config_home: Path) -> None:
    assert runner.invoke(app, ["config", "set", "airflow_version", "2.10"]).exit_code == 0
    assert runner.invoke(app, ["config", "set", "model", "smol360"]).exit_code == 0
    assert tomllib.loads(config_home.read_text()) == {"airflow_version": "2.10", "model": "smol360"}
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0 and "smol360" in shown.output and "2.10" in shown.output
    assert runner.invoke(app, ["config", "unset", "model"]).exit_code == 0
    assert tomllib.loads(config_home.read_text()) == {"airflow_version": "2.10"}
    bad = runner.invoke(app, ["config", "set", "colour", "red"])
    assert bad.exit_code == 1 and "no config key 'colour'" in bad.output
    bad = runner.invoke(app, ["config", "set", "airflow_version", "three"])
    assert bad.exit_code == 1 and "airflow_version" in bad.output and len(bad.output.strip().splitlines()) == 1
    config_home.write_text("airflow_version = [")  # a hand edit gone wrong: one line, not a traceback
    broken = runner.invoke(app, ["config", "show"])
    assert broken.exit_code == 1 and "not a valid airflow-net config" in broken.output


def test_generate_reads_the_config_and_a_flag_wins(config_home: Path) -> None:
    model = ScriptedModel([ANSWER])
    try:
        assert runner.invoke(app, ["config", "set", "server_url", model.url]).exit_code == 0
        assert runner.invoke(app, ["config", "set", "airflow_version", "2.10"]).exit_code == 0
        done = runner.invoke(app, ["generate", "Load orders daily", "--level", "syntax", "--attempts", "1"])
        assert done.exit_code == 0, done.output
        done = runner.invoke(
            app, ["generate", "Load orders daily", "--level", "syntax", "--attempts", "1", "--airflow-version", "3.1"]
        )
        assert done.exit_code == 0, done.output
    finally:
        model.close()
    asked = [request["messages"][1]["content"] for request in model.requests]
    assert "Target: Apache Airflow 2.10" in asked[0]  # from the config, through its server_url
    assert "Target: Apache Airflow 3.1" in asked[1]  # the flag
