"""Hostile DAG files against the real sandbox: each is contained, classified, and the run goes on.

All files go through one `evaluate()` call with two workers, so a file that takes its worker, its
neighbours or the host down would show up as missing or wrong verdicts for the others.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

import dageval
from dageval import Level, Limits, Sample
from dageval.importer import ImportChecker
from dageval.runtime import Runtime

HEAD = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="d", schedule=None) as dag:
    EmptyOperator(task_id="a")
"""
MARKER = "dageval-hostile-7f3a"


def cases(outside: Path, runtime_home: Path) -> dict[str, tuple[str, str | None]]:
    """name -> (code appended to a valid DAG, expected category or None for "loads")."""
    sentinel = outside / "sentinel.txt"
    return {
        "write_outside": (
            f"for target in [{str(outside / 'pwned')!r}, '/root/pwned', {str(runtime_home / 'pwned')!r}, "
            "'/etc/pwned', '/var/tmp/pwned']:\n"
            "    try:\n        open(target, 'w').write('x')\n    except OSError:\n        pass\n",
            None,
        ),
        "write_next_to_itself": (
            "import os\nopen(os.path.join(os.path.dirname(__file__), 'planted.py'), 'w').write('x')\n",
            "import_error",
        ),
        "delete_files": (
            "import os, shutil\n"
            f"for target in [{str(sentinel)!r}, {str(runtime_home)!r}]:\n"
            "    shutil.rmtree(target, ignore_errors=True)\n"
            "    try:\n        os.remove(target)\n    except OSError:\n        pass\n"
            "for name in os.listdir(os.path.dirname(__file__)):\n"
            "    try:\n        os.remove(os.path.join(os.path.dirname(__file__), name))\n    except OSError:\n"
            "        pass\n",
            None,
        ),
        "read_secret_file": (f"assert not __import__('os').path.exists({str(sentinel)!r}), 'read a host file'\n", None),
        "env_secrets": ("import os\nassert 'DAGEVAL_SECRET' not in os.environ, 'leaked'\n", None),
        "network": ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n", "import_error"),
        "raw_network": (
            "import _socket\ns = _socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))\n",
            "import_error",
        ),
        "fork_bomb": (
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
            "timeout",
        ),
        "memory_bomb": ("hog = bytearray(8 * 1024**3)\n", "import_error"),
        "infinite_loop": ("while True:\n    pass\n", "timeout"),
        "os_exit": ("import os\nos._exit(3)\n", "exited"),
        "sys_exit": ("import sys\nsys.exit(1)\n", "import_error"),
        "kill_parent": (
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n",
            "import_error",
        ),
        "kill_everything_visible": (
            "import os, signal\n"
            "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
            "    if pid != os.getpid():\n"
            "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n",
            None,
        ),
        "signal_handlers": (
            "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):\n"
            "    signal.signal(s, signal.SIG_IGN)\nsignal.alarm(1)\n",
            None,
        ),
        "huge_output": ("print('x' * 50_000_000)\nimport sys\nsys.stderr.write('y' * 10_000_000)\n", None),
        "deep_recursion": ("def f(n):\n    return f(n + 1)\nf(0)\n", "import_error"),
        "imports_itself": (
            "import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('again', __file__)\n"
            "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n",
            "import_error",
        ),
        "forge_answers": (
            'import os\nfake = b\'{"id": "0", "outcome": "done", "dags": {"forged": 99}}\\n\'\n'
            "for fd in range(3, 1024):\n"
            "    try:\n        os.write(fd, fake)\n    except OSError:\n        pass\n",
            None,
        ),
        "daemon_survives": (
            "import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)  # {MARKER}'], "
            "start_new_session=True)\n",
            None,
        ),
        "fill_the_disk": ("with open('big.bin', 'wb') as f:\n    f.write(b'0' * 200 * 1024**2)\n", "import_error"),
    }


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dageval.Verdict], dict[str, object]]:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "sentinel.txt").write_text("host data")
    runtime_home = Runtime("3.1.3").ensure().airflow_home
    os.environ["DAGEVAL_SECRET"] = "do-not-leak"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    table = cases(outside, runtime_home)
    # The good DAG between each hostile file: it must load every time, whatever the file before did.
    samples = []
    for name, (code, _) in table.items():
        samples.append(Sample(id=name, completion=f"```python\n{HEAD}{code}```", airflow_version="3.1.3"))
        samples.append(Sample(id=f"good_after_{name}", completion=f"```python\n{HEAD}```", airflow_version="3.1.3"))
    limits = Limits(timeout=8, cpu=20, fsize=32 * 1024**2)
    verdicts = {v.sample_id: v for v in dageval.evaluate(samples, level=Level.IMPORT, limits=limits)}
    host = {
        "outside": sorted(p.name for p in outside.iterdir()),
        "sentinel": (outside / "sentinel.txt").read_text(),
        "runtime_home": runtime_home.is_dir() and not (runtime_home / "pwned").exists(),
        "handlers": {s: signal.getsignal(s) for s in handlers} == handlers,
        "daemons": [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and MARKER.encode() in _cmdline(p)],
    }
    return verdicts, host


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


NAMES = list(cases(Path("/x"), Path("/y")))


def test_the_suite_is_large_enough() -> None:
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_each_hostile_file_is_judged_with_a_clear_reason(
    outcome: tuple[dict[str, dageval.Verdict], dict[str, object]], name: str
) -> None:
    verdicts, _ = outcome
    verdict = verdicts[name]
    expected = cases(Path("/x"), Path("/y"))[name][1]
    last = verdict.results[-1]
    assert last.level == Level.IMPORT, verdict.results
    if expected is None:
        assert last.ok, last
    else:
        assert not last.ok and last.category == expected, last
        assert last.message
    after = verdicts[f"good_after_{name}"]
    assert after.passed == Level.IMPORT, (name, after.results)


def test_nothing_outside_the_sandbox_changed(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    _, host = outcome
    assert host["outside"] == ["sentinel.txt"]
    assert host["sentinel"] == "host data"
    assert host["runtime_home"]
    assert not Path("/root/pwned").exists()
    assert not Path("/etc/pwned").exists()
    assert not Path("/var/tmp/pwned").exists()


def test_the_host_process_is_unaffected(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    verdicts, host = outcome
    assert len(verdicts) == 2 * len(NAMES)
    assert os.environ["DAGEVAL_SECRET"] == "do-not-leak"
    assert host["handlers"]
    assert host["daemons"] == [], "a process the file started outlived it"
    assert sys.getrecursionlimit() >= 1000


def test_forged_answers_do_not_reach_other_files(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    verdicts, _ = outcome
    assert not any("99 task" in v.results[-1].message for k, v in verdicts.items() if k != "forge_answers")


def test_the_sandbox_reports_its_layers() -> None:
    with ImportChecker(Runtime("3.1.3"), workers=1, install_providers=False) as checker:
        layers = set(checker.workers[0].sandbox)
    if os.geteuid() == 0:
        assert {"pid", "mount", "net", "filesystem", "uid"} <= layers
    else:
        assert "net" in layers or not layers  # an unprivileged user gets what the kernel allows
