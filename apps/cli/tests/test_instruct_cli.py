"""`airflow-net instruct` in-process: the offline backend end to end, the estimate, the errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airflow_net.cli import app

runner = CliRunner()
CODE = (
    "from airflow import DAG\n"
    "from airflow.operators.bash import BashOperator\n\n"
    'with DAG(dag_id="hello", schedule="@daily") as dag:\n'
    '    BashOperator(task_id="t", bash_command="true")\n'
)


@pytest.fixture
def mined(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    rows = [{"id": f"{i:016x}", "code": CODE, "last_version": "2.10.5", "dag_ids": ["hello"]} for i in range(3)]
    (folder / "dags.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_instruct_run_with_the_template_backend(mined: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = tmp_path / "instruct"
    result = runner.invoke(app, ["instruct", "run", str(mined), "--out", str(out), "--per-dag", "2"])
    assert result.exit_code == 0, result.output
    assert "written" in result.output
    lines = (out / "instructions.jsonl").read_text().splitlines()
    assert len(lines) == 6
    assert all("Airflow 2.10" in json.loads(line)["text"] for line in lines)
    again = runner.invoke(app, ["instruct", "run", str(mined), "--out", str(out), "--per-dag", "2"])
    assert "unchanged" in again.output


def test_dry_run_prints_the_estimate(mined: Path) -> None:
    result = runner.invoke(app, ["instruct", "run", str(mined), "--dry-run", "--backend", "anthropic-batch"])
    assert result.exit_code == 0, result.output
    assert "claude-haiku-4-5" in result.output and "$" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "anthropic"], "ANTHROPIC_API_KEY"),
        (["--backend", "openai"], "--base-url"),
        (["--styles", "poem", "--backend", "template"], "unknown style 'poem'"),
        (["--backend", "nope"], "invalid input"),
    ],
)
def test_errors_are_one_line(
    mined: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = runner.invoke(app, ["instruct", "run", str(mined), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_status_without_a_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["instruct", "status", str(tmp_path)])
    assert result.exit_code == 1
    assert "no batch run" in result.output


class _Overloaded(BaseHTTPRequestHandler):
    """The Anthropic API on its worst day: every request a 529 with its documented body (the real SDK reads it).
    The full batch stand-in, recovery included, is in daginstruct's tests."""

    def _overloaded(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        self.send_response(529)
        for name, value in (("Content-Type", "application/json"), ("retry-after-ms", "1")):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _overloaded

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def overloaded_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_api_that_stays_overloaded_stops_the_run_with_one_line(
    mined: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overloaded_api: str
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    args = ["instruct", "run", str(mined), "--out", str(tmp_path / "o"), "--backend", "anthropic-batch"]
    result = runner.invoke(app, [*args, "--base-url", overloaded_api, "--retry-budget", "0.3"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit(1), not an exception let through
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: the Anthropic API stayed overloaded (HTTP 529"), line
    assert line.endswith("run the same command again to resume"), line
