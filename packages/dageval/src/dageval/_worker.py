"""The import-level worker. Runs with an Airflow runtime's own python, not dageval's: stdlib only.

It imports Airflow once, then for each request (one JSON line on stdin: {"id", "path"}) forks a
child that loads the file with a real `DagBag`, in a sandbox:
- new PID, mount, network and IPC namespaces (as root, or inside a user namespace otherwise): the file
  sees no other process and cannot signal one, has no network, and when it ends, everything it
  started ends with it (it runs as PID 1 of its namespace);
- fresh tmpfs over /tmp, /var/tmp, /dev/shm and the home directory, with only the runtime, the
  Python it was made from and the file's folder bound back in: nothing the file writes outlives it,
  and secrets kept in the home directory are out of sight;
- as root: an unprivileged uid (nobody), so the host's files cannot be changed or deleted and the
  process limit binds (a fork bomb stops at it);
- every inherited descriptor closed (the worker's answer pipe, database connections), a scrubbed
  environment, a temporary working directory, CPU, memory, file-size and process limits, stdout
  and stderr discarded.
The parent waits with a timeout and kills what hangs; one JSON line answers each request, and a
child that crashes, exits or is killed is reported as such: the worker carries on. Which of these
layers the kernel allowed is reported once, in the worker's first line.
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
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
NOBODY = 65534
MAX_OUTPUT = 64 * 1024
_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> bool:
    return int(_libc.unshare(flags)) == 0


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    if _libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def _namespaces() -> list[str]:
    """Enter new namespaces; returns which. The PID namespace applies to the next fork."""
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC
    if os.geteuid() == 0 and _unshare(flags):
        return ["pid", "mount", "net", "ipc", "uid"]
    uid, gid = os.geteuid(), os.getegid()
    if _unshare(CLONE_NEWUSER | flags):  # an unprivileged user: the same, inside a user namespace
        with contextlib.suppress(OSError):
            Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        return ["pid", "mount", "net", "ipc"]
    return ["net"] if _unshare(CLONE_NEWNET) else []


def _outermost(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted({str(Path(p).resolve()) for p in paths if Path(p).is_dir()}):
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _filesystem(keep: list[str]) -> None:
    """Private mounts; tmpfs over the writable and secret places; `keep` bound back where it was."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    home = str(Path("~").expanduser().resolve())
    masks = [m for m in ("/tmp", "/var/tmp", "/dev/shm", home) if Path(m).is_dir() and m != "/"]
    handles = {path: os.open(path, os.O_PATH) for path in _outermost(keep)}
    for mask in _outermost(masks):
        mode = "0755" if mask == home else "1777"
        _mount("tmpfs", mask, "tmpfs", MS_NOSUID | MS_NODEV, f"size=64m,mode={mode}")
    for path, fd in handles.items():
        if any(path.startswith(m + "/") for m in masks):
            Path(path).mkdir(mode=0o755, parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    # This PID namespace's own /proc: no other process is visible.
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _drop_privileges() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _become_pid1() -> None:
    """Fork into the new PID namespace. The outer process waits and mirrors how the inner one ended."""
    inner = os.fork()
    if inner == 0:
        return
    _, status = os.waitpid(inner, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's handler cannot be set, nor needs to be
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _close_inherited(keep: int) -> None:
    """The worker's answer pipe and database connections must not reach the file under test."""
    os.closerange(3, keep)
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _isolate(keep_paths: list[str]) -> list[str]:
    """Enter every sandbox layer the kernel allows; returns in the process that loads the file."""
    layers = _namespaces()
    if "pid" in layers:
        _become_pid1()
    if "mount" in layers:
        try:
            _filesystem(keep_paths)
            layers.append("filesystem")
        except OSError:
            pass
    if "uid" in layers and "filesystem" in layers:  # without the binds, nobody could not read the runtime
        _drop_privileges()
    return layers


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
    me = os.getpid()
    before = set(sys.modules)
    try:
        from airflow.models.dagbag import DagBag  # type: ignore[import-not-found]

        bag = DagBag(dag_folder=path, include_examples=False, safe_mode=False)
        result = {
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "dags": {dag_id: len(dag.tasks) for dag_id, dag in bag.dags.items()},
            "shapes": {dag_id: _safe_shape(dag) for dag_id, dag in bag.dags.items()},
        }
    except BaseException as e:
        result = {"exception": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
    if os.getpid() != me:  # a process the file forked came back out of DagBag: only the loader answers
        os._exit(0)
    result["modules"] = sorted(set(sys.modules) - before)[:300]
    with os.fdopen(write_fd, "w") as out:
        # On a line of its own, last: whatever the file wrote into this pipe before is ignored.
        out.write("\n" + json.dumps(result) + "\n")
    os._exit(0)


def _classes(task: object) -> list[str]:
    """The task's operator class and its bases, by name; a mapped task answers for the class it maps."""
    cls = getattr(task, "operator_class", None) or type(task)
    if not isinstance(cls, type):
        cls = type(task)
    return [c.__name__ for c in cls.__mro__]


def _safe_shape(dag: object) -> dict[str, object]:
    try:
        return _shape(dag)
    except Exception:  # a DAG object that will not be read (a hostile one): it loaded, its shape is unknown
        return {}


def _shape(dag: object) -> dict[str, object]:
    """What Airflow loaded, for the intent level: the schedule, each task's class, and the features used.

    Read with getattr only: the attributes differ between Airflow 2.9 and 3.1, and a shape that cannot be
    read leaves a field empty rather than failing a DAG that loaded."""
    timetable = getattr(dag, "timetable", None)
    tasks = []
    for task in getattr(dag, "tasks", []):
        classes = _classes(task)
        callbacks = any(getattr(task, name, None) for name in ("on_failure_callback", "on_retry_callback"))
        tasks.append(
            {
                "operator": classes[0],
                "module": getattr(getattr(task, "operator_class", None) or type(task), "__module__", ""),
                "bases": classes[1:12],
                "mapped": bool(getattr(task, "is_mapped", False))
                or any(c.__name__.endswith("MappedOperator") for c in type(task).__mro__),
                "retries": int(getattr(task, "retries", 0) or 0),
                "callbacks": bool(callbacks),
                "deferrable": bool(getattr(task, "deferrable", False) or getattr(task, "start_trigger_args", None)),
                "trigger_rule": str(getattr(task, "trigger_rule", "all_success")).split(".")[-1].lower(),
            }
        )
    groups = getattr(dag, "task_group_dict", None) or {}
    params = getattr(dag, "params", None) or {}
    dag_callbacks = any(getattr(dag, name, None) for name in ("on_failure_callback", "sla_miss_callback"))
    return {
        "schedule": str(getattr(timetable, "summary", "") or ""),
        "timetable": type(timetable).__name__ if timetable is not None else "",
        "tasks": tasks,
        "task_groups": len(groups),
        "params": sorted(str(k) for k in params),
        "callbacks": bool(dag_callbacks),
    }


# Loaded once, in the worker itself (trusted code, ours): the first DAG a process loads pays for
# Airflow's lazy imports and plugin discovery (over a second on Airflow 2); its forks then start warm.
WARM_UP = """
try:
    from airflow.sdk import DAG, dag, task
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:
    from airflow import DAG
    from airflow.decorators import dag, task
    from airflow.operators.empty import EmptyOperator
    from airflow.operators.python import PythonOperator
    from airflow.operators.bash import BashOperator
from datetime import datetime

with DAG(dag_id="dageval_warm_up", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> PythonOperator(task_id="b", python_callable=print) >> BashOperator(
        task_id="c", bash_command="true"
    )


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def dageval_warm_up_taskflow():
    @task
    def one():
        return 1

    one()


dageval_warm_up_taskflow()
"""


def _warm_up() -> None:
    from airflow.models.dagbag import DagBag

    with tempfile.TemporaryDirectory(prefix="dageval-warm-") as folder:
        path = Path(folder) / "dageval_warm_up.py"
        path.write_text(WARM_UP)
        with contextlib.suppress(Exception):
            DagBag(dag_folder=str(path), include_examples=False, safe_mode=False)


def _import_installed(names: list[object]) -> None:
    """Import, in the worker, the installed modules a child needed, so later forks find them loaded.

    The names come from the sandboxed child, so they are not trusted: only modules that are files of
    this runtime's site-packages (which the sandbox kept the file from changing), never the standard
    library (whose `antigravity` opens a browser) nor anything beside the file under test.
    """
    import importlib
    import importlib.util
    import site

    roots = tuple(str(Path(p).resolve()) + "/" for p in site.getsitepackages())
    for name in names[:300]:
        if not isinstance(name, str) or name in sys.modules:
            continue
        with contextlib.suppress(Exception):
            spec = importlib.util.find_spec(name)
            if spec and spec.origin and str(Path(spec.origin).resolve()).startswith(roots):
                importlib.import_module(name)


def _keep_paths(path: str, airflow_home: str) -> list[str]:
    return [str(Path(path).parent), sys.prefix, sys.base_prefix, airflow_home]


def _start_child(write_fd: int) -> int:
    """Fork; in the child: no stdio, its own session, inherited descriptors closed. Returns the pid."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.setsid()  # one process group for it and all it starts: killed together on a timeout
        _close_inherited(write_fd)
    return pid


def _probe(airflow_home: str) -> list[str]:
    """Which sandbox layers this kernel and user allow, found once in a throwaway child."""
    read_fd, write_fd = os.pipe()
    pid = _start_child(write_fd)
    if pid == 0:
        try:
            layers = _isolate(_keep_paths(__file__, airflow_home))
            os.write(write_fd, json.dumps(layers).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    while chunk := os.read(read_fd, 4096):
        data += chunk
    os.close(read_fd)
    os.waitpid(pid, 0)
    found: list[str] = json.loads(data) if data else []
    return found


def _run(path: str, timeout: float, limits: dict[str, int], airflow_home: str) -> dict[str, object]:
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = _start_child(write_fd)
    if pid == 0:
        try:
            _isolate(_keep_paths(path, airflow_home))
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
    lines = b"".join(chunks).decode("utf-8", "replace").strip().splitlines()
    raw = lines[-1] if lines else ""
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

    _warm_up()
    sandbox = _probe(config["airflow_home"])
    answers.write(json.dumps({"ready": True, "airflow": airflow.__version__, "sandbox": sandbox}) + "\n")
    limits = config["limits"]
    for line in sys.stdin:
        request = json.loads(line)
        answer = _run(request["path"], float(config["timeout"]), limits, config["airflow_home"])
        learned = answer.pop("modules", None)
        answers.write(json.dumps({"id": request["id"], **answer}) + "\n")
        _import_installed(learned if isinstance(learned, list) else [])


if __name__ == "__main__":
    main()
