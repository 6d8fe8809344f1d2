"""dagserve and dageval as users install them: each wheel built with `uv build --package X --no-sources`, installed
into a fresh virtualenv outside the workspace, and its console script run for real.

dagcore, which both need, is installed from its own wheel (it is published alongside them). Third-party packages
come from the index, pinned to the lock, except one: llama-cpp-python publishes only an sdist that compiles
llama.cpp on install (20+ minutes on two cores), so the fresh venv gets this workspace's own build of it, repacked
as a wheel (same version, same build flags).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from dagcore.testing import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
OLD = """from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("old", schedule_interval="@daily", start_date=datetime(2024, 1, 1)) as dag:
    DummyOperator(task_id="a")
"""
NEW = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="new", schedule=None):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the wheels (it made this environment)")
    return found


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def repack(distribution: str, folder: Path) -> Path:
    """The installed distribution as a wheel again: its files, its WHEEL tag, a fresh RECORD."""
    dist = importlib.metadata.distribution(distribution)
    info = next(f for f in dist.files or [] if f.name == "WHEEL" and f.parent.name.endswith(".dist-info"))
    tag = next(line.split(": ")[1] for line in info.read_text().splitlines() if line.startswith("Tag: "))
    name = dist.metadata["Name"].replace("-", "_")
    wheel = folder / f"{name}-{dist.version}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_build.json", "uv_cache.json"}
    record = f"{info.parent}/RECORD"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            if (file.parent.name.endswith(".dist-info") and file.name in skip) or "__pycache__" in file.parts:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(str(file), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{file},sha256={digest},{len(data)}")
        archive.writestr(record, "\n".join([*rows, f"{record},,"]) + "\n")
    return wheel


def install_alone(package: str, tmp: Path) -> Path:
    """A fresh venv (outside the workspace) holding `package` and dagcore from their wheels; its bin folder."""
    dist = tmp / "dist"
    for name in (package, "dagcore"):
        _run([_uv(), "build", "--package", name, "--no-sources", "--wheel", "-o", str(dist), "-q"], cwd=ROOT)
    pins = tmp / "pins.txt"
    exported = [_uv(), "export", "--frozen", "--no-hashes", "--no-emit-workspace", "--no-dev", "--package", package]
    pins.write_text(_run(exported, cwd=ROOT).stdout)
    venv = tmp / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    _run([_uv(), "venv", "-q", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(venv)], cwd=tmp)
    wheels = [str(next(dist.glob(f"{name}-*.whl"))) for name in (package, "dagcore")]
    if "llama-cpp-python==" in pins.read_text():
        wheels.append(str(repack("llama-cpp-python", dist)))
    python = str(venv / "bin" / "python")
    _run([_uv(), "pip", "install", "-q", "--python", python, *wheels, "-c", str(pins)], cwd=tmp, env=env)
    listed = _run([_uv(), "pip", "list", "--python", python, "--format", "json"], cwd=tmp, env=env)
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert {package, "dagcore"} <= names
    assert not names & {"airflow-net", "dagmine", "dagdata", "dagtune", "daginstruct", "dagsynth"}  # on its own
    return venv / "bin"


def test_dagserve_wheel_serves_the_bundled_model(tmp_path: Path) -> None:
    bin_dir = install_alone("dagserve", tmp_path)
    port = free_port()
    env = {**os.environ, "DAGSERVE_HOME": str(tmp_path / "state"), "DAGSERVE_MODELS": str(tmp_path / "models")}
    server = subprocess.Popen(
        [str(bin_dir / "dagserve"), "serve", "--port", str(port), "--ctx", "512", "--threads", "1", "--parallel", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, timeout=180)
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Name one Airflow operator."}], "max_tokens": 12},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["choices"][0]["message"]["content"].strip() and body["usage"]["completion_tokens"] > 0
    finally:
        server.terminate()
        server.wait(30)


def test_dageval_wheel_judges_files_in_a_real_airflow(tmp_path: Path) -> None:
    bin_dir = install_alone("dageval", tmp_path)
    (tmp_path / "old.py").write_text(OLD)
    (tmp_path / "new.py").write_text(NEW)
    judged = subprocess.run(
        [str(bin_dir / "dageval"), "judge", "new.py", "old.py", "--airflow", "3.1", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert judged.returncode == 1, judged.stdout + judged.stderr  # old.py fails on Airflow 3
    verdicts = {v["sample_id"]: v for v in map(json.loads, judged.stdout.splitlines())}
    new_levels = [(r["level"], r["ok"]) for r in verdicts["new.py"]["results"]]
    assert new_levels[-1] == (5, True) and all(ok for _, ok in new_levels)  # loaded by a real Airflow 3.1
    old_failure = next(r for r in verdicts["old.py"]["results"] if not r["ok"])
    assert old_failure["category"] == "removed_in_airflow_3" and "AIR301" in old_failure["codes"]
