"""The import-level worker. Runs with an Airflow runtime's own python, not dageval's: stdlib only.

It imports Airflow once, then for each request (one JSON line on stdin: {"id", "path"}) forks a
child that loads the file with a real `DagBag`, in a sandbox: a temporary working directory, a
scrubbed environment, CPU, memory, file-size and process limits, no network (a new network namespace
when the kernel allows it, and sockets refused in Python either way), stdout and stderr discarded.
Not yet contained: writes outside the temp dir and signals to other processes (a PID namespace made
DagBag's child die at once here; a mount namespace and a PID namespace are the next step).
The parent waits with a timeout and kills what hangs; one JSON line answers each request, and a
child that crashes, exits or is killed is reported as such: the worker carries on.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback

CLONE_NEWNET = 0x40000000
MAX_OUTPUT = 64 * 1024


def _network_namespace() -> bool:
    """A new, empty network namespace (root only): no interface but a down loopback."""
    try:
        return int(ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET)) == 0
    except OSError:
        return False


def _no_network() -> str:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("network access is disabled while validating a DAG")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    return "python"


def _child(path: str, write_fd: int, limits: dict[str, int], airflow_home: str) -> None:
    work = tempfile.mkdtemp(prefix="dageval-")
    os.chdir(work)
    keep = {"PATH": "/usr/bin:/bin", "HOME": work, "AIRFLOW_HOME": airflow_home, "LANG": "C.UTF-8"}
    keep.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__")})
    os.environ.clear()
    os.environ.update(keep)
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory"], limits["memory"]))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    sys.setrecursionlimit(3000)
    _no_network()  # also inside the namespace: a clear Python error instead of an unreachable network
    result: dict[str, object] = {}
    try:
        from airflow.models.dagbag import DagBag  # type: ignore[import-not-found]

        bag = DagBag(dag_folder=path, include_examples=False, safe_mode=False)
        result = {
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "dags": {dag_id: len(dag.tasks) for dag_id, dag in bag.dags.items()},
        }
    except BaseException as e:
        result = {"exception": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
    with os.fdopen(write_fd, "w") as out:
        out.write(json.dumps(result))
    os._exit(0)


def _run(path: str, timeout: float, limits: dict[str, int], airflow_home: str) -> dict[str, object]:
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.setsid()  # one process group for it and all it starts: killed together on a timeout
        try:
            _network_namespace()
            _child(path, write_fd, limits, airflow_home)
        finally:
            os._exit(70)
    os.close(write_fd)
    chunks: list[bytes] = []
    size = 0
    deadline = start + timeout
    status: int | None = None
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
        if ready:
            data = os.read(read_fd, 65536)
            if not data:
                break
            if size < 4 * MAX_OUTPUT:
                chunks.append(data)
                size += len(data)
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = code
            # drain what is left
            while True:
                ready, _, _ = select.select([read_fd], [], [], 0)
                if not ready:
                    break
                data = os.read(read_fd, 65536)
                if not data:
                    break
                chunks.append(data)
            break
    while status is None and not timed_out:
        # The pipe closed (the answer is in) but the child may still be exiting: wait for it, not kill it.
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = code
        elif time.monotonic() >= deadline:
            timed_out = True
        else:
            time.sleep(0.002)
    if timed_out or status is None:
        for target in (-pid, pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        if status is None:
            _, status = os.waitpid(pid, 0)
    os.close(read_fd)
    seconds = time.monotonic() - start
    if timed_out:
        return {"outcome": "timeout", "seconds": seconds}
    raw = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        return {"outcome": "killed", "signal": os.WTERMSIG(status), "seconds": seconds}
    try:
        payload = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        payload = None
    if payload is None:
        return {"outcome": "exited", "code": os.WEXITSTATUS(status), "seconds": seconds}
    return {"outcome": "done", "seconds": seconds, **payload}


def main() -> None:
    # Answers go to a private copy of stdout; anything Airflow or its logging prints goes to stderr, so
    # it can never be mistaken for an answer.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    config = json.loads(sys.argv[1])
    os.environ["AIRFLOW_HOME"] = config["airflow_home"]
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    import airflow  # type: ignore[import-not-found]  # imported once here; every forked child inherits it
    from airflow.models.dagbag import DagBag  # noqa: F401

    answers.write(json.dumps({"ready": True, "airflow": airflow.__version__}) + "\n")
    limits = config["limits"]
    for line in sys.stdin:
        request = json.loads(line)
        answer = _run(request["path"], float(config["timeout"]), limits, config["airflow_home"])
        answers.write(json.dumps({"id": request["id"], **answer}) + "\n")


if __name__ == "__main__":
    main()
