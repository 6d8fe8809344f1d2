"""A tiny Qwen2-shaped model made from a config, with a Qwen-style BPE tokenizer trained here, and a
small dataset in dagdata's format. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagdata import DEFAULT_CONTRACT
from dagtune.testing import make_tiny_model

DAGS = [
    (
        "Run a bash command every day.",
        'from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n\nwith DAG(dag_id="daily_bash", '
        'schedule="@daily") as dag:\n    BashOperator(task_id="hello", bash_command="echo hello")\n',
    ),
    (
        "Two Python tasks, extract then load, hourly.",
        'from airflow.decorators import dag, task\n\n\n@dag(schedule="@hourly")\ndef etl():\n    @task\n'
        "    def extract():\n        return 1\n\n    @task\n    def load(x):\n        print(x)\n\n"
        "    load(extract())\n\n\netl()\n",
    ),
    (
        "Wait for a file, then copy it.",
        'from airflow import DAG\nfrom airflow.sensors.filesystem import FileSensor\n\nwith DAG(dag_id="wait_copy") '
        'as dag:\n    FileSensor(task_id="wait", filepath="/data/in.csv")\n',
    ),
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 with random weights, saved as a local folder: `base_model` for training."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), [code for _, code in DAGS])


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dagdata's on-disk form: a DatasetDict of ChatML `messages` (built directly, with the same contract)."""
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("dataset")
    rows = [
        {"id": f"r{i}", "messages": DEFAULT_CONTRACT.messages(request, "2.10.3", code)}
        for i, (request, code) in enumerate(DAGS * 8)
    ]
    DatasetDict({"train": Dataset.from_list(rows[:20]), "test": Dataset.from_list(rows[20:])}).save_to_disk(
        str(folder / "hf")
    )
    return folder
