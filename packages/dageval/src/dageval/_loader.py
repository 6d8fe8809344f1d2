"""What runs inside the runtime's python and touches Airflow: the warm-up, loading one file, its shape.

Stdlib only (the runtime's python has no dageval); imported by `_worker.py`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path


def load(path: str, write_fd: int) -> None:
    """Load the file with a real DagBag and write one JSON line; in the sandboxed loader, whose limits are set."""
    work = tempfile.mkdtemp(prefix="dageval-")
    os.chdir(work)
    keep = {"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8", "USER": "dageval", "LOGNAME": "dageval"}
    keep.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW")})
    os.environ.clear()
    os.environ.update(keep)
    sys.setrecursionlimit(3000)
    _keep_fault_signals()
    _no_network()  # also inside the namespace: a clear Python error instead of an unreachable network
    result: dict[str, object] = {}
    me = os.getpid()
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
    with os.fdopen(write_fd, "w") as out:
        # On a line of its own, last: whatever the file wrote into this pipe before is ignored.
        out.write("\n" + json.dumps(result) + "\n")
    os._exit(0)


def _keep_fault_signals() -> None:
    """A Python handler for a fault signal returns to the faulting instruction, which faults again: the
    process spins instead of dying. Airflow 3's DagBag installs one for SIGSEGV around each file; here such a
    request is a no-op, so a segfault ends the loader at once and is reported as a crash. (The worker's own
    warm-up DagBag left one installed: reset here.)"""
    import signal

    faults = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
    original = signal.signal
    for fault in faults:
        original(fault, signal.SIG_DFL)

    def guarded(signum: int, handler: object) -> object:
        if signum in faults:
            return signal.getsignal(signum)
        return original(signum, handler)  # type: ignore[arg-type]

    signal.signal = guarded  # type: ignore[assignment]


def _no_network() -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("network access is disabled while validating a DAG")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


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
# The parts of Airflow and of each installed provider that DAG files import: warmed in the worker, so forks
# find them loaded. The list is made here, from the runtime's own files, never from what a file imported.
CORE_PARTS = ("operators", "sensors", "decorators", "timetables", "datasets", "assets")
PROVIDER_PARTS = ("operators", "sensors", "decorators")
WARM_SECONDS = 20.0


def warm_up(known: Sequence[str] = ()) -> None:
    """Load the warm-up DAG and Airflow's example DAGs, import `known` (the caller's trusted list of the modules DAG
    files import most: those of the Airflow namespace are imported, any other name is ignored), then the runtime's
    own operator and sensor modules until `WARM_SECONDS` have passed."""
    from airflow.models.dagbag import DagBag

    with tempfile.TemporaryDirectory(prefix="dageval-warm-") as folder:
        path = Path(folder) / "dageval_warm_up.py"
        path.write_text(WARM_UP)
        with contextlib.suppress(Exception):
            DagBag(dag_folder=str(path), include_examples=False, safe_mode=False)
    deadline = time.monotonic() + WARM_SECONDS
    # Airflow's own example DAGs, shipped in the runtime: what DAG files import and touch, from trusted files.
    for folder in _locations("airflow.example_dags"):
        for example in sorted(Path(folder).glob("example_*.py")):
            if time.monotonic() > deadline:
                break
            with warnings.catch_warnings(), contextlib.suppress(Exception):
                warnings.simplefilter("ignore")
                DagBag(dag_folder=str(example), include_examples=False, safe_mode=False)
    for name in known:
        if name.startswith("airflow."):  # a module of another provider version or major fails quietly
            with warnings.catch_warnings(), contextlib.suppress(Exception):
                warnings.simplefilter("ignore")
                importlib.import_module(name)
    for name in warm_list():
        if time.monotonic() > deadline:  # a runtime with many big providers: the rest load in each fork
            break
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            importlib.import_module(name)


def warm_list() -> list[str]:
    """Airflow's own modules first (`airflow.operators.*`, ...), then each installed provider's, standard first."""
    providers = []
    for base in _locations("airflow.providers"):
        for marker in [*Path(base).glob("*/get_provider_info.py"), *Path(base).glob("*/*/get_provider_info.py")]:
            providers.append("airflow.providers." + ".".join(marker.parent.relative_to(base).parts))
    providers.sort(key=lambda name: (name != "airflow.providers.standard", name))
    packages = [f"airflow.{part}" for part in CORE_PARTS]
    packages += [f"{provider}.{part}" for provider in providers for part in PROVIDER_PARTS]
    found: list[str] = []
    for package in packages:
        locations = _locations(package)
        if locations:
            found.append(package)
        for info in pkgutil.iter_modules(locations, package + "."):
            last = info.name.rsplit(".", 1)[-1]
            if not info.ispkg and last != "__main__" and not last.startswith(("test", "_")):
                found.append(info.name)
    return found


def _locations(package: str) -> list[str]:
    """The folders of a package, read without importing its modules (only the package's parents)."""
    try:
        spec = importlib.util.find_spec(package)
    except Exception:
        return []
    return list(spec.submodule_search_locations or []) if spec else []
