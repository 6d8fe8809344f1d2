"""The whole pipeline on a tiny scale: a local git repo with release tags, the template backend, a tiny
Qwen2 made here, two training steps, real GGUF export and serving, real evaluation, the report.
A second run skips every stage. The run uses a prompt contract of its own, which must reach the dataset, both
GGUFs, the server and the prompts the models are judged on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import dagserve
import dagtune
from airflow_net.pipeline import PipelineConfig, run_pipeline
from airflow_net.pipeline.runner import Runner
from dagdata import DEFAULT_CONTRACT, PromptContract
from dagtune.testing import make_tiny_model

CONTRACT = PromptContract(
    system="You write Airflow DAG files for a tiny test, and nothing else.",
    user_template="Airflow {airflow_version}, please: {request}",
)

DAGS_2 = {
    "dags/daily_bash.py": """from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="daily_bash", schedule="@daily", start_date=datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
""",
    "dags/etl.py": """from datetime import datetime

from airflow.decorators import dag, task


@dag(schedule="@hourly", start_date=datetime(2024, 1, 1))
def etl():
    @task
    def extract():
        return 1

    @task
    def load(x):
        print(x)

    load(extract())


etl()
""",
}
DAGS_3 = {
    "dags/empty_chain.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import "
    'EmptyOperator\n\nwith DAG(dag_id="empty_chain", schedule=None):\n    EmptyOperator(task_id="a") >> '
    'EmptyOperator(task_id="b")\n',
    "dags/python_task.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.python import "
    'PythonOperator\n\nwith DAG(dag_id="python_task", schedule="@weekly"):\n    PythonOperator(task_id="run", '
    "python_callable=print)\n",
    "dags/sensor_then_bash.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.bash import "
    "BashOperator\nfrom airflow.providers.standard.sensors.time_delta import TimeDeltaSensor\nfrom datetime import "
    'timedelta\n\nwith DAG(dag_id="sensor_then_bash", schedule="@daily"):\n    TimeDeltaSensor(task_id="wait", '
    'delta=timedelta(minutes=5)) >> BashOperator(task_id="go", bash_command="date")\n',
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Airflow-like history: DAG files at release tag 2.10.5, more (Airflow 3 style) at 3.1.3."""
    repo = tmp_path_factory.mktemp("airflow-like")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    for tag, files in (("2.10.5", DAGS_2), ("3.1.3", DAGS_3)):
        for name, code in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(code)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"release {tag}")
        _git(repo, "tag", tag)
    return repo


def tiny_config(source: Path, base: Path, out: Path, **dataset: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "name": "tiny",
            "out": out,
            "results": out / "results",
            "mine": {"source": source},
            "instruct": {"backend": "template", "per_dag": 3},
            "base": {"model": str(base), "quant": "q8_0"},
            "dataset": {"max_tokens": 1024, "test_fraction": 0.3, "near_dup_threshold": 0.95, **dataset},
            "train": {
                "backend": "hf",
                "settings": {
                    "max_steps": 2,
                    "per_device_train_batch_size": 1,
                    "gradient_accumulation_steps": 1,
                    "max_seq_length": 1024,
                    "eval_steps": 2,
                    "save_steps": 2,
                    "logging_steps": 1,
                    "max_eval_samples": 2,
                },
            },
            "export": {"quant": "q8_0", "verify_tokens": 4},
            "eval": {"level": "import", "max_prompts": 3, "max_tokens": 24, "parallel": 2, "ctx": 1024, "workers": 1},
        }
    )


@pytest.fixture(scope="module")
def first_run(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, Runner]:
    """One whole run, shared: with a contract that is not the default, set in the config's dataset section."""
    tmp = tmp_path_factory.mktemp("pipeline")
    base = make_tiny_model(tmp / "tiny-base", [*DAGS_2.values(), *DAGS_3.values()])
    config = tiny_config(source, base, tmp / "run", contract=CONTRACT.model_dump())
    return config, run_pipeline(config)


def test_the_pipeline_runs_every_stage_then_skips_them(first_run: tuple[PipelineConfig, Runner]) -> None:
    config, first = first_run
    out = config.out
    assert all(status.endswith("done[/]") for status in first.status.values()), first.status
    mined = [json.loads(line) for line in (out / "mine" / "dags.jsonl").read_text().splitlines()]
    assert {r["first_version"] for r in mined} == {"2.10.5", "3.1.3"} and len(mined) == 5
    assert len((out / "instruct" / "instructions.jsonl").read_text().splitlines()) == 15
    assert (out / "base" / "model-q8_0.gguf").is_file() and (out / "base" / "hf" / "config.json").is_file()
    assert (out / "dataset" / "test.jsonl").read_text().strip()
    train = first.results["train"]
    assert train.steps == 2 and train.first_loss is not None
    assert (out / "export" / "model-q8_0.gguf").is_file() and (out / "export" / "README.md").is_file()
    for model in ("base", "tuned"):
        verdicts = (out / "eval" / model / "verdicts.jsonl").read_text().splitlines()
        assert len(verdicts) == first.results["eval"].base.prompts > 0
        assert (out / "eval" / model / "completions.jsonl").is_file()
    comparison = json.loads((out / "eval" / "comparison.json").read_text())
    assert [row["level"] for row in comparison] == ["extract", "syntax", "structure", "lint", "import"]
    report = (out / "report" / "report.md").read_text()
    assert "## Base vs tuned" in report and "| import |" in report and "train conversations" in report
    assert (out / "results" / "report.html").is_file() and (out / "results" / "plots" / "loss.png").is_file()

    again = run_pipeline(config)
    assert all(status.startswith("skipped") for status in again.status.values()), again.status


def test_a_config_change_reruns_that_stage_and_what_follows(source: Path, tmp_path: Path) -> None:
    base = make_tiny_model(tmp_path / "tiny-base", [*DAGS_2.values()])
    config = tiny_config(source, base, tmp_path / "run")
    run_pipeline(config, until="dataset")
    changed = config.model_copy(update={"dataset": config.dataset.model_copy(update={"test_fraction": 0.4})})
    again = run_pipeline(changed, until="dataset")
    assert again.status["mine"].startswith("skipped") and again.status["base"].startswith("skipped")
    assert again.status["dataset"].endswith("done[/]")


def test_a_contract_set_in_the_config_reaches_the_ggufs_the_server_and_the_eval(
    first_run: tuple[PipelineConfig, Runner], tmp_path: Path
) -> None:
    config, first = first_run
    assert CONTRACT != DEFAULT_CONTRACT
    dataset = json.loads((config.out / "dataset" / "manifest.json").read_text())
    assert PromptContract.model_validate(dataset["config"]["contract"]) == CONTRACT
    tuned: Path = first.results["export"].gguf
    base: Path = first.results["base"].gguf.gguf
    for gguf in (tuned, base):  # the base model is prompted like the tuned one: a fair comparison
        assert PromptContract.from_metadata(dagtune.read_metadata(gguf)) == CONTRACT, gguf

    state = tmp_path / "server"
    served = dagserve.start_server(dagserve.ServeConfig(model=str(tuned), port=0, ctx=512), state_dir=state)
    try:
        contract = httpx.get(f"{served.url}/v1/dagserve/contract", timeout=30).json()
    finally:
        dagserve.stop_server(state_dir=state)
    assert PromptContract.model_validate(contract) == CONTRACT

    user = re.compile(r"Airflow (\d+\.\d+|latest), please: \S")
    for model in ("base", "tuned"):
        rows = [
            json.loads(line) for line in (config.out / "eval" / model / "completions.jsonl").read_text().splitlines()
        ]
        assert rows
        for row in rows:
            system, request = row["messages"][0], row["messages"][1]
            assert system == {"role": "system", "content": CONTRACT.system}
            assert request["role"] == "user" and user.match(request["content"]), request
