"""The MCP server as an editor runs it: a real `airflow-net-mcp` process over stdio, driven by the official SDK's
own client; validation in real Airflow runtimes, generation against a scripted model on a loopback port, search
over a real dagmine output folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import dagmine
from dagcore.testing import ScriptedModel
from dagsynth.spec import SPEC_EXAMPLE, SPEC_RESPONSE_FORMAT, spec_text

GOOD = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="orders", schedule="@daily"):
    EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")
"""
# An invented operator, used: an unused one would only be dropped by the import fixer.
HALLUCINATED = GOOD.replace(
    "from airflow.sdk import DAG", "from airflow.sdk import DAG\nfrom airflow.operators.magic import MagicOperator"
).replace('EmptyOperator(task_id="extract")', 'MagicOperator(task_id="extract")')
OLD = """from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("old", schedule_interval="@daily", start_date=datetime(2024, 1, 1)) as dag:
    DummyOperator(task_id="a")
"""
S3 = '''"""Copy yesterday's orders from Postgres to S3 every night."""
from datetime import datetime

from airflow import DAG
from airflow.providers.amazon.aws.transfers.sql_to_s3 import SqlToS3Operator

with DAG("orders_to_s3", schedule="0 2 * * *", start_date=datetime(2024, 1, 1)):
    SqlToS3Operator(task_id="copy", query="select 1", s3_bucket="b", s3_key="k", sql_conn_id="pg")
'''
BASH = '''"""Run a shell command every hour."""
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("hourly_shell", schedule="@hourly", start_date=datetime(2024, 1, 1)):
    BashOperator(task_id="echo", bash_command="echo hi")
'''


def _structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


@pytest.fixture
def mined(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "orders_to_s3.py").write_text(S3)
    (folder / "hourly_shell.py").write_text(BASH)
    out = tmp_path / "mined"
    dagmine.mine_to_dir(dagmine.FolderSource(folder, label="team", airflow_version="2.10.5"), out)
    return out


def test_the_four_tools_over_stdio(tmp_path: Path, mined: Path) -> None:
    model = ScriptedModel([f"```python\n{HALLUCINATED}```", f"```python\n{GOOD}```", spec_text(SPEC_EXAMPLE[1])])
    (tmp_path / "config" / "airflow-net").mkdir(parents=True)
    # The user's config names the version: calls that name none are judged for it.
    (tmp_path / "config" / "airflow-net" / "config.toml").write_text('airflow_version = "3.1"\n')
    (tmp_path / "old_dag.py").write_text(OLD)
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "airflow_net_mcp", "--examples", str(mined), "--endpoint", model.url],
        env={"XDG_CONFIG_HOME": str(tmp_path / "config")},
    )

    async def session() -> None:
        async with Client(server, read_timeout_seconds=600) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"validate_dag", "generate_dag", "search_examples", "airflow_versions"}

            runtimes = _structured(await client.call_tool("airflow_versions", {}))["result"]
            versions = [r["version"] for r in runtimes]
            assert any(v.startswith("3.1.") for v in versions) and any(v.startswith("2.10.") for v in versions)

            found = _structured(await client.call_tool("validate_dag", {"code": GOOD}))  # 3.1 from the config
            assert found["ok"] and found["imported"] and found["airflow_version"] == "3.1"
            assert [lv["level"] for lv in found["levels"]] == ["extract", "syntax", "structure", "lint", "import"]
            path = str(tmp_path / "old_dag.py")
            on_2 = _structured(await client.call_tool("validate_dag", {"path": path, "airflow_version": "2.10"}))
            assert on_2["ok"] and on_2["imported"]
            on_3 = _structured(await client.call_tool("validate_dag", {"path": path, "airflow_version": "3.1"}))
            assert not on_3["ok"] and on_3["level"] == "lint" and on_3["category"] == "removed_in_airflow_3"
            assert "AIR301" in on_3["levels"][-1]["codes"]
            neither = await client.call_tool("validate_dag", {})
            assert neither.is_error and "either code or path" in json.dumps(neither.model_dump(mode="json"))

            made = _structured(await client.call_tool("generate_dag", {"request": "Load orders daily"}))
            assert made["ok"] and len(made["attempts"]) == 2 and "EmptyOperator" in made["code"]
            assert made["attempts"][0]["verdict"]["category"] == "hallucinated_module"
            assert made["attempts"][1]["verdict"]["imported"]
            # The spec way: the worked example's spec (bash, postgres, slack), rendered for 3.1 and judged in its real
            # runtime: whatever its providers, the file got past syntax, structure and lint to the import.
            asked = {"request": "Export the users weekly", "spec": True, "max_repairs": 0}
            made = _structured(await client.call_tool("generate_dag", asked))
            assert "from airflow.providers.standard.operators.bash import BashOperator" in made["code"]
            assert made["attempts"][0]["verdict"]["level"] in ("import", "intent")

            hits = _structured(await client.call_tool("search_examples", {"query": "postgres to S3 nightly", "k": 2}))
            hits = hits["result"]
            assert hits[0]["dag_ids"] == ["orders_to_s3"] and hits[0]["airflow_versions"] == ["2.10.5"]
            assert "SqlToS3Operator" in hits[0]["code"] and hits[0]["source"].startswith("team:")
            assert all(h["score"] >= hits[-1]["score"] for h in hits)
            elsewhere = await client.call_tool("search_examples", {"query": "shell", "airflow_version": "3.0"})
            assert _structured(elsewhere)["result"] == []  # nothing mined shipped in 3.0

    try:
        anyio.run(session)
    finally:
        model.close()
    assert "Target: Apache Airflow 3.1" in model.requests[0]["messages"][1]["content"]
    assert model.requests[2]["response_format"] == SPEC_RESPONSE_FORMAT


def test_streamable_http_on_loopback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_net_mcp", "--http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def session() -> list[str]:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("search_examples", {"query": "s3"})
            assert result.is_error and "--examples" in str(result.content)  # started without a mined folder
            return [tool.name for tool in (await client.list_tools()).tools]

    try:
        deadline = time.monotonic() + 60
        listening = False
        while not listening and time.monotonic() < deadline:
            with socket.socket() as probe:
                listening = probe.connect_ex(("127.0.0.1", port)) == 0
            assert proc.poll() is None, "the server exited"
            time.sleep(0 if listening else 0.2)
        assert listening, "the server did not listen within 60 s"
        assert "validate_dag" in anyio.run(session)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
