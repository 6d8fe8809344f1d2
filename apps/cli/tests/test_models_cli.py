"""`airflow-net models`: pull from a stand-in Hub over real HTTP (a Ctrl-C'd download resumes, a bad checksum is
refused), import and remove, and `serve --model NAME` serving a pulled model for real."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
from typer.testing import CliRunner

import dagserve
from airflow_net.cli import app

from .hub_standin import COMMIT, HubStandIn

runner = CliRunner()
REPO = "someone/SmolLM2-GGUF"


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("DAGSERVE_MODELS", str(folder))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no token of the user's is read
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # The stand-in is the Hub here: other suites (dagdata's conftest) turn the Hub off for the whole process, and
    # huggingface_hub reads that switch once, at import.
    for switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(switch, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return folder


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStandIn]:
    gguf = dagserve.default_model().read_bytes()  # a real GGUF, served by dagserve at the end
    stand_in = HubStandIn({f"{REPO}/smol.gguf": gguf, f"{REPO}/tampered.gguf": b"GGUF" + os.urandom(1 << 20)})
    stand_in.advertised[f"{REPO}/tampered.gguf"] = "0" * 64
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)
    yield stand_in
    stand_in.close()


def test_a_cut_pull_resumes_and_the_model_serves(models: Path, hub: HubStandIn, tmp_path: Path) -> None:
    data = hub.files[f"{REPO}/smol.gguf"]
    hub.stall_after = len(data) // 2
    command = [str(Path(sys.executable).with_name("airflow-net")), "models", "pull", REPO, "smol.gguf"]
    first = subprocess.Popen(
        command,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Ctrl-C as a terminal delivers it: an ignored SIGINT in this process (left by a library an earlier test ran)
        # would be inherited across exec, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not hub.stalled.wait(0.2):  # a pull that fails at once says why, instead of a two-minute wait
        assert first.poll() is None, first.stdout.read().decode() if first.stdout else ""
        assert time.monotonic() < deadline, "the pull never started"
    first.send_signal(signal.SIGINT)  # Ctrl-C half way
    assert first.wait(60) != 0
    hub.release.set()
    partial = list((models / ".partial").glob("smol-*.part"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size <= len(data) // 2
    kept = partial[0].stat().st_size
    assert not (models / "smol.gguf").exists()

    result = runner.invoke(app, ["models", "pull", REPO, "smol.gguf"])
    assert result.exit_code == 0, result.output
    assert hub.requests[-1] == ("GET", f"/{REPO}/resolve/main/smol.gguf", f"bytes={kept}-")  # resumed
    assert hub.sent[-1] == len(data) - kept  # only the rest crossed the wire again
    assert hashlib.sha256((models / "smol.gguf").read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not list((models / ".partial").glob("*.part"))
    listed = {m.name: m for m in dagserve.list_models()}
    assert listed["smol"].source == "hub" and listed["smol"].origin == f"{REPO}/smol.gguf@{COMMIT}"
    assert "smol" in runner.invoke(app, ["models", "list"]).output
    seen = len(hub.requests)
    assert runner.invoke(app, ["models", "pull", REPO, "smol.gguf"]).exit_code == 0
    assert [method for method, _, _ in hub.requests[seen:]] == ["HEAD"]  # already there: nothing downloaded

    # `serve --model NAME`: the pulled file is what dagserve loads, and it answers.
    state = tmp_path / "state"
    info = dagserve.start_server(dagserve.ServeConfig(model="smol", port=0, ctx=512, threads=1), state_dir=state)
    try:
        assert info.model == str((models / "smol.gguf").resolve())
        with dagserve.Client(info.url) as client:
            answer = client.chat([{"role": "user", "content": "Say hi"}], max_tokens=8)
        assert answer.completion.strip()
    finally:
        dagserve.stop_server(state_dir=state)


def test_a_bad_checksum_is_refused(models: Path, hub: HubStandIn) -> None:
    result = runner.invoke(app, ["models", "pull", REPO, "tampered.gguf"])
    assert result.exit_code == 1 and "does not match the expected" in result.output
    assert not (models / "tampered.gguf").exists() and not list((models / ".partial").glob("*.part"))
    # A checksum the user gives wins over the Hub's, and is checked the same way.
    result = runner.invoke(app, ["models", "pull", REPO, "smol.gguf", "--name", "s2", "--sha256", "f" * 64])
    assert result.exit_code == 1 and "does not match" in result.output and not (models / "s2.gguf").exists()
    result = runner.invoke(app, ["models", "pull", REPO, "missing.gguf"])
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_import_an_export_and_remove_it(models: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "model-f16.gguf").write_bytes(b"GGUF f16")
    (export / "model-q4_k_m.gguf").write_bytes(b"GGUF q4")
    result = runner.invoke(app, ["models", "import", str(export), "--name", "mine"])
    assert result.exit_code == 0, result.output
    assert (models / "mine.gguf").read_bytes() == b"GGUF q4"  # the quantised one
    assert dagserve.resolve_model("mine") == (models / "mine.gguf").resolve()
    entry = {m.name: m for m in dagserve.list_models()}["mine"]
    assert entry.source == "export" and entry.origin == str((export / "model-q4_k_m.gguf").resolve())
    assert runner.invoke(app, ["models", "remove", "mine"]).exit_code == 0
    assert not (models / "mine.gguf").exists() and not (models / "mine.json").exists()
    result = runner.invoke(app, ["models", "remove", "mine"])
    assert result.exit_code == 1 and "no model 'mine'" in result.output
