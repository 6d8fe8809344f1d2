"""`dagserve serve --detach`, `status` and `stop` as a user runs them: the CLI in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dagserve.cli import app


def _dagserve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DAGSERVE_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "dagserve", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_detach_status_stop(tiny_gguf: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _dagserve(home, "status").returncode == 3
    started = _dagserve(
        home, "serve", "--detach", "--model", str(tiny_gguf), "--port", "0", "--ctx", "256", "--threads", "1"
    )
    assert started.returncode == 0, started.stderr
    state = json.loads((home / "server.json").read_text())
    assert state["model"] == str(tiny_gguf.resolve()) and state["port"] > 0
    try:
        health = httpx.get(f"http://127.0.0.1:{state['port']}/health").json()
        assert health["status"] == "ok" and health["pid"] == state["pid"]
        status = _dagserve(home, "status")
        assert status.returncode == 0 and f"pid {state['pid']}" in status.stdout and "healthy" in status.stdout
        # Starting again for the same model finds the running server instead of a second one.
        again = _dagserve(home, "serve", "--detach", "--model", str(tiny_gguf), "--port", "0")
        assert again.returncode == 0 and str(state["pid"]) in again.stdout
    finally:
        stopped = _dagserve(home, "stop")
    assert stopped.returncode == 0 and f"stopped pid {state['pid']}" in stopped.stdout
    assert not (home / "server.json").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{state['port']}/health")
    assert _dagserve(home, "status").returncode == 3


def test_stale_pid_file_is_reported_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "server.json").write_text(
        json.dumps({"pid": dead.pid, "host": "127.0.0.1", "port": 9, "model": "/m.gguf", "started_at": 0.0})
    )
    monkeypatch.setenv("DAGSERVE_HOME", str(tmp_path))
    runner = CliRunner()
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 1 and "stale" in status.output
    stop = runner.invoke(app, ["stop"])
    assert stop.exit_code == 0 and not (tmp_path / "server.json").exists()
    assert runner.invoke(app, ["status"]).exit_code == 3


def test_a_failed_start_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model")
    result = _dagserve(tmp_path, "serve", "--detach", "--model", str(bad), "--port", "0")
    assert result.returncode == 1
    assert "could not load" in result.stderr
    missing = _dagserve(tmp_path, "serve", "--model", "no-such-model")
    assert missing.returncode == 1 and "no model 'no-such-model'" in missing.stderr


def test_state_dir_is_a_parameter(tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers keep two servers apart by folder, without touching the environment."""
    from dagserve import ServeConfig, server_status, start_server, stop_server

    monkeypatch.setenv("DAGSERVE_HOME", str(tmp_path / "default"))
    state = tmp_path / "private"
    info = start_server(ServeConfig(model=str(tiny_gguf), port=0, ctx=256, threads=1), state_dir=state)
    try:
        assert json.loads((state / "server.json").read_text())["pid"] == info.pid
        assert server_status(state_dir=state).state == "running" and server_status().state == "stopped"
        assert os.environ["DAGSERVE_HOME"] == str(tmp_path / "default")
    finally:
        stopped = stop_server(state_dir=state)
    assert stopped is not None and stopped.pid == info.pid
    assert not (state / "server.json").exists() and not (tmp_path / "default").exists()
