"""The import-level worker. Runs with an Airflow runtime's own python, not dageval's: stdlib only.

It imports Airflow once and warms it up from a list it makes itself (`_loader.warm_list`), then for each
request (one JSON line on stdin: {"id", "path"}) says it started, and forks a sandbox (`_sandbox`) in which
a loader, as an unprivileged uid, loads the file with a real `DagBag`:

    worker -> PID 1 of a new PID namespace (joins the memory cgroup, enters the other namespaces, builds the
              new root, waits and tells the worker how the loader ended on a pipe of its own)
           -> the loader

Every inherited descriptor is closed (the worker's answer pipe, database connections), stdout and stderr are
discarded, the environment is scrubbed. The worker waits with a timeout and kills what hangs; one JSON line
answers each request, and a loader that crashes, exits or is killed is reported as such. Nothing a file did
(its sys.modules included) is ever read back into the worker: only the answer line. Which layers the kernel
allowed is reported once, in the worker's first line.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dageval import _loader, _sandbox
else:  # run as a script: its folder is sys.path[0]
    import _loader
    import _sandbox

MAX_OUTPUT = 64 * 1024


class Sandbox:
    """What every file's sandbox shares in one worker: the paths kept, the memory cap, the uid."""

    def __init__(self, airflow_home: str, limits: dict[str, int]) -> None:
        self.airflow_home = airflow_home
        self.limits = limits
        self.uid = _sandbox.UID_BASE + os.getpid()
        self.cgroup = _sandbox.memory_cgroup(limits["memory"], limits["nproc"])
        # Without a cgroup, one process (no fork, no thread): the address-space limit is then the tree's.
        self.nproc = limits["nproc"] if self.cgroup else 1
        self.filesystem: bool | None = None
        """Whether the probe could build the new root (None while probing): then every file must get it."""
        self.own_pid_ns = _sandbox.own_pid_namespace()

    def keep(self, path: str) -> list[str]:
        return [str(Path(path).parent), sys.prefix, sys.exec_prefix, sys.base_prefix, self.airflow_home]

    def fork(self) -> int:
        """Fork the process of one file: as root, straight into a new PID namespace of its own."""
        return _sandbox.fork_as_pid1(self.own_pid_ns) if self.own_pid_ns is not None else os.fork()

    def enter(self, path: str, write_fd: int, status_fd: int) -> list[str]:
        """In the worker's fork: every layer the kernel allows; returns in the loader, with its layers."""
        _sandbox.die_with_parent()
        if self.cgroup:
            _sandbox.join(self.cgroup)
        pid1 = self.own_pid_ns is not None
        layers = _sandbox.namespaces(pid1)
        if "pid" not in layers:
            os.close(status_fd)
            return self._loader(layers)
        if not pid1 and os.fork():  # inside a user namespace: the next fork is PID 1, this process only waits
            os.close(status_fd)
            os.close(write_fd)
            os.wait()
            os._exit(0)
        _sandbox.die_with_parent()
        layers.append("init")
        if "mount" in layers and self.filesystem is not False:
            try:
                _sandbox.enter_root(self.keep(path))
                layers.append("filesystem")
            except (OSError, _sandbox.SandboxError) as e:
                if self.filesystem:  # the probe had it: never load a file with fewer layers, say why instead
                    os.write(write_fd, ("\n" + json.dumps({"sandbox_error": str(e)[:300]}) + "\n").encode())
                    os._exit(0)
        _sandbox.run_as_init(status_fd)
        return self._loader(layers)

    def _loader(self, layers: list[str]) -> list[str]:
        if "uid" in layers and "filesystem" in layers:  # without the binds, the uid could not read the runtime
            _sandbox.drop_privileges(self.uid)
        else:
            layers = [layer for layer in layers if layer != "uid"]
        _sandbox.set_limits(self.limits, self.nproc)
        return [*layers, "cgroup" if self.cgroup else "nproc"]


def _start_child(sandbox: Sandbox, path: str | None, write_fd: int, status_fd: int) -> int:
    """Fork the sandbox of one file (of the probe, with no path): no stdio, its own session, inherited
    descriptors closed but the answer and status pipes. Returns its pid."""
    pid = sandbox.fork()
    if pid:
        return pid
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.setsid()  # one process group for it and all it starts: killed together on a timeout
        low, high = sorted((write_fd, status_fd))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        layers = sandbox.enter(path or __file__, write_fd, status_fd)
        if path is None:  # the probe: report the layers, load nothing
            os.write(write_fd, json.dumps(layers).encode())
        else:
            _loader.load(path, write_fd)
    finally:
        os._exit(70)


def _probe(sandbox: Sandbox) -> list[str]:
    """Which sandbox layers this kernel and user allow, found once in a throwaway child."""
    read_fd, write_fd = os.pipe()
    status_r, status_w = os.pipe()
    pid = _start_child(sandbox, None, write_fd, status_w)
    os.close(write_fd)
    os.close(status_w)
    data = b""
    while chunk := os.read(read_fd, 4096):
        data += chunk
    os.close(read_fd)
    os.close(status_r)
    os.waitpid(pid, 0)
    with contextlib.suppress(json.JSONDecodeError):
        found = json.loads(data.decode(errors="replace").strip().splitlines()[-1]) if data.strip() else []
        if isinstance(found, list):
            return [str(layer) for layer in found]
    return []


def _collect(pid: int, read_fd: int, deadline: float) -> tuple[int | None, list[bytes]]:
    """Read the loader's answer until it ends or the deadline passes; returns its wait status (None: too late)."""
    chunks: list[bytes] = []
    size = 0
    open_pipe = True
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, chunks
        if open_pipe:
            ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
            if ready:
                data = os.read(read_fd, 65536)
                if not data:
                    open_pipe = False  # the answer is in; the process may still be exiting: wait, not kill
                elif size < 4 * MAX_OUTPUT:
                    chunks.append(data)
                    size += len(data)
        else:
            time.sleep(0.002)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while open_pipe and select.select([read_fd], [], [], 0)[0]:
                data = os.read(read_fd, 65536)
                open_pipe = bool(data)
                chunks.append(data)
            return status, chunks


def _ended(status: int, status_fd: int) -> tuple[str, int]:
    """How the loader ended: ("signal", N) or ("exit", N), as PID 1 told it, else as the forked child did."""
    told = b""
    if select.select([status_fd], [], [], 0)[0]:
        told = os.read(status_fd, 64)
    words = told.decode(errors="replace").split()
    if len(words) == 2 and words[0] in ("signal", "exit") and words[1].isdigit():
        return words[0], int(words[1])
    if os.WIFSIGNALED(status):
        return "signal", os.WTERMSIG(status)
    return "exit", os.WEXITSTATUS(status)


def _run(sandbox: Sandbox, path: str, timeout: float) -> dict[str, object]:
    read_fd, write_fd = os.pipe()
    status_r, status_w = os.pipe()
    start = time.monotonic()
    pid = _start_child(sandbox, path, write_fd, status_w)
    os.close(write_fd)
    os.close(status_w)
    status, chunks = _collect(pid, read_fd, start + timeout)
    if status is None:
        for target in (-pid, pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(read_fd)
    how, number = _ended(status or 0, status_r)
    os.close(status_r)
    seconds = time.monotonic() - start
    if status is None:
        return {"outcome": "timeout", "seconds": seconds}
    if how == "signal":
        return {"outcome": "killed", "signal": number, "seconds": seconds}
    lines = b"".join(chunks).decode("utf-8", "replace").strip().splitlines()
    try:
        payload = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return {"outcome": "exited", "code": number, "seconds": seconds}
    if "sandbox_error" in payload:
        return {"outcome": "sandbox_failed", "message": str(payload["sandbox_error"]), "seconds": seconds}
    return {"outcome": "done", "seconds": seconds, **payload}


def main() -> None:
    # Answers go to a private copy of stdout; anything Airflow or its logging prints goes to stderr, so
    # it can never be mistaken for an answer.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    config = json.loads(sys.argv[1])
    import airflow  # type: ignore[import-not-found]  # imported once here; every forked child inherits it

    _loader.warm_up(config.get("warm", []))
    sandbox = Sandbox(config["airflow_home"], config["limits"])
    layers = _probe(sandbox)
    sandbox.filesystem = "filesystem" in layers
    answers.write(json.dumps({"ready": True, "airflow": airflow.__version__, "sandbox": layers}) + "\n")
    try:
        for line in sys.stdin:
            request = json.loads(line)
            # Said before the fork: a parent that hears nothing knows the worker, not the file, is stuck.
            answers.write(json.dumps({"id": request["id"], "started": True}) + "\n")
            answer = _run(sandbox, request["path"], float(config["timeout"]))
            answers.write(json.dumps({"id": request["id"], **answer}) + "\n")
    finally:
        _sandbox.remove_cgroup(sandbox.cgroup)


if __name__ == "__main__":
    main()
