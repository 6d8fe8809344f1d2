"""A server in the background: start it detached, find it again, stop it.

The detached process records itself in `<state dir>/server.json` once its port is open (pid, port, model) and
removes the file when it exits; `server.log` next to it keeps its output. The state dir is the `state_dir` a
call is given, else `$DAGSERVE_HOME`, else `~/.cache/dagserve`: one state dir, one server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ValidationError

from dagserve.config import ServeConfig
from dagserve.exceptions import ServerError
from dagserve.resolve import resolve_model

STATE_FILE = "server.json"
LOG_FILE = "server.log"


class ServerInfo(BaseModel):
    """A detached server, as it recorded itself."""

    pid: int
    host: str
    port: int
    model: str
    """Path of the GGUF it serves."""
    started_at: float
    """Unix time the port opened."""
    api_key_set: bool = False
    """Whether /v1 needs a key (the key itself is not written down)."""
    log: str = ""
    """Where its output goes."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class ServerStatus(BaseModel):
    """`running`: the recorded process is alive; `stale`: the record outlived its process; `stopped`: no record."""

    state: Literal["running", "stale", "stopped"]
    info: ServerInfo | None = None
    healthy: bool = False
    """/health answered."""


def state_dir() -> Path:
    """The default state dir: `$DAGSERVE_HOME`, else `~/.cache/dagserve`."""
    env = os.environ.get("DAGSERVE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dagserve"


def _folder(given: Path | None) -> Path:
    return Path(given).expanduser() if given is not None else state_dir()


def write_state(info: ServerInfo, state_dir: Path | None = None) -> Path:
    """Called by the detached server once it listens; atomic, so readers never see half a file."""
    folder = _folder(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(info.model_dump_json(indent=2))
    tmp.replace(folder / STATE_FILE)
    return folder / STATE_FILE


def clear_state(pid: int, state_dir: Path | None = None) -> None:
    """Remove the record if it is still this process's own."""
    folder = _folder(state_dir)
    info = _read_state(folder)
    if info is not None and info.pid == pid:
        (folder / STATE_FILE).unlink(missing_ok=True)


def server_status(state_dir: Path | None = None) -> ServerStatus:
    info = _read_state(_folder(state_dir))
    if info is None:
        return ServerStatus(state="stopped")
    if not _alive(info.pid):
        return ServerStatus(state="stale", info=info)
    return ServerStatus(state="running", info=info, healthy=_healthy(info))


def start_server(
    config: ServeConfig | None = None, *, timeout: float = 180.0, state_dir: Path | None = None
) -> ServerInfo:
    """Start a detached server recorded in `state_dir` and wait until it answers /health.

    A server already running there for the same model file is reused; one for another model is an error.
    """
    config = config or ServeConfig()
    model = str(resolve_model(config.model))
    folder = _folder(state_dir)
    status = server_status(folder)
    if status.state == "running" and status.info is not None:
        if status.info.model == model:
            return status.info
        raise ServerError(
            f"a server is already running (pid {status.info.pid}, {status.info.url}) for {status.info.model}: "
            "stop it first (`dagserve stop`)"
        )
    if status.state == "stale":
        (folder / STATE_FILE).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / LOG_FILE
    args = [sys.executable, "-m", "dagserve", "serve", "--model", model, "--state-dir", str(folder)]
    args += ["--host", config.host, "--port", str(config.port), "--ctx", str(config.ctx)]
    args += ["--threads", str(config.threads), "--gpu-layers", str(config.gpu_layers)]
    args += ["--parallel", str(config.parallel), "--queue", str(config.queue), "--batch", str(config.batch)]
    args += ["--stream-interval", str(config.stream_interval), "--stop-repeats", str(config.stop_repeats)]
    env = dict(os.environ, DAGSERVE_HOME=str(folder))
    env.pop("DAGSERVE_API_KEY", None)
    if config.api_key:
        env["DAGSERVE_API_KEY"] = config.api_key  # not in argv, where `ps` would show it
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the server exited with code {proc.returncode} while starting:\n{_tail(log)}")
        info = _read_state(folder)
        if info is not None and info.pid == proc.pid and _healthy(info):
            return info
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise ServerError(f"the server did not answer /health within {timeout:.0f} s:\n{_tail(log)}")


def stop_server(*, timeout: float = 15.0, state_dir: Path | None = None) -> ServerInfo | None:
    """Stop the detached server recorded in `state_dir` (SIGTERM, then SIGKILL after `timeout`) and remove its
    record.

    Returns what was stopped, or None when nothing was recorded. A stale record is just removed.
    """
    folder = _folder(state_dir)
    info = _read_state(folder)
    if info is None:
        return None
    if _alive(info.pid) and _is_dagserve(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)
            while _alive(info.pid):
                time.sleep(0.05)
    (folder / STATE_FILE).unlink(missing_ok=True)
    return info


def _read_state(folder: Path) -> ServerInfo | None:
    try:
        return ServerInfo.model_validate_json((folder / STATE_FILE).read_text())
    except (FileNotFoundError, ValidationError, json.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # our own child that exited is a zombie until reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to signal
        return True
    return True


def _is_dagserve(pid: int) -> bool:
    """Guard against a recycled pid: only signal a process that is a dagserve server."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        with contextlib.suppress(OSError):
            return b"dagserve" in cmdline.read_bytes()
        return False
    return True  # no /proc (macOS): trust the record


def _healthy(info: ServerInfo) -> bool:
    try:
        response = httpx.get(f"{info.url}/health", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("pid") == info.pid


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
