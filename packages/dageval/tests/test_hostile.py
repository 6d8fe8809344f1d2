"""Hostile DAG files against the real sandbox: each is contained, classified, and the run goes on.

All files go through one `evaluate()` call with two workers, so a file that takes its worker, its
neighbours or the host down would show up as missing or wrong verdicts for the others.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

import dageval
from dageval import Level, Limits, Sample
from dageval import importer as importer_module
from dageval.exceptions import InputError
from dageval.importer import ImportChecker
from dageval.runtime import Runtime

HEAD = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="d", schedule=None) as dag:
    EmptyOperator(task_id="a")
"""
MARKER = "dageval-hostile-7f3a"
# What the caller's environment holds: it must reach neither the sandbox nor a verdict.
CALLER_FERNET_KEY = "Zm9yIHRlc3RzIG9ubHk6IG5vdCBhIHJlYWwga2V5ISE="
# Files that need a process or a thread of their own: without a memory cgroup the sandbox allows none.
NEEDS_FORK = {"daemon_survives"}


def _socket_path(outside: Path) -> Path:
    """Where the host's UNIX socket lives: under /run where one can make it (as the issue found), else beside."""
    run = Path("/run")
    if os.access(run, os.W_OK):
        return run / f"{MARKER}-{os.getpid()}.sock"
    return outside / "host.sock"


def cases(outside: Path, runtime_home: Path) -> dict[str, tuple[str, str | tuple[str, ...] | None]]:
    """name -> (code appended to a valid DAG, expected category (or categories) or None for "loads")."""
    sentinel = outside / "sentinel.txt"
    runtime_lock = runtime_home.parent.parent / f".{runtime_home.parent.name}.lock"
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
        # issue 18, 1: the worker imported, as root, a module the file had put in its own sys.modules
        "main_module_in_sys_modules": ("import sys\nsys.modules['certifi.__main__'] = sys\n", None),
        "main_modules_of_site_packages": (
            "import sys\nfor name in ('pygments', 'fastapi', 'typer', 'jsonschema', 'aiosmtplib'):\n"
            "    sys.modules[name + '.__main__'] = sys\n",
            None,
        ),
        # issue 18, 2: ... and one of them calls input() on the worker's request pipe
        "input_on_the_request_pipe": ("import sys\nsys.modules['aiosmtplib.__main__'] = sys\n", None),
        # issue 18, 3: crashes came back as timeouts (Airflow's own SIGSEGV handler, and PID 1 ignoring signals)
        "segfault": ("import ctypes\nctypes.string_at(0)\n", "crashed"),
        "abort": ("import os\nos.abort()\n", "crashed"),
        # issue 18, 4: a secret in a verdict
        "fernet_key_in_message": (
            "import os\nraise RuntimeError('key=' + os.environ.get('AIRFLOW__CORE__FERNET_KEY', ''))\n",
            "import_error",
        ),
        "fernet_key_from_config": (
            "from airflow.configuration import conf\nraise RuntimeError(conf.get('core', 'fernet_key'))\n",
            "import_error",
        ),
        # issue 18, 5: writes that outlived the sandbox
        "write_run_lock_and_runtime_lock": (
            f"for target in ['/run/lock/{MARKER}', '/var/lock/{MARKER}', {str(runtime_lock)!r}]:\n"
            "    try:\n        open(target, 'a').write('pwned')\n    except OSError:\n        pass\n",
            None,
        ),
        # issue 18, 6: a host UNIX socket (mode 0666) accepted a connection; nothing the import does not need is
        # visible: no socket anywhere under /run, /var/run or /tmp
        "host_unix_socket": (
            "import _socket, os, stat\n"
            f"for path in [{str(_socket_path(outside))!r}, '/run/dbus/system_bus_socket', '/var/run/docker.sock']:\n"
            "    try:\n"
            "        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)\n"
            "        s.connect(path)\n        s.send(b'pwned')\n"
            "    except OSError:\n        pass\n"
            "found = []\n"
            "for top in ('/run', '/var/run', '/tmp'):\n"
            "    for root, dirs, files in os.walk(top):\n"
            "        found += [n for n in files if stat.S_ISSOCK(os.lstat(os.path.join(root, n)).st_mode)]\n"
            "assert not found, found\n",
            None,
        ),
        # issue 18, 7: 8 forks of 700 MiB reached 5.7 GiB against a 2 GiB limit: the whole tree is capped
        "memory_across_forks": (
            "import os, time\nkids = []\n"
            "for _ in range(8):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        hog = bytearray(700 * 1024**2)\n        time.sleep(3)\n        os._exit(0)\n"
            "    kids.append(pid)\n"
            "assert all(os.waitpid(pid, 0)[1] == 0 for pid in kids), 'a fork was stopped'\n",
            ("import_error", "crashed"),
        ),
        # issue 18: a file could list and read the run's other samples
        "read_other_samples": (
            "import glob, os\n"
            "mine = os.path.realpath(__file__)\n"
            "seen = glob.glob('/tmp/**/*.py', recursive=True)\n"
            "seen += glob.glob(os.path.dirname(os.path.dirname(mine)) + '/*/*')\n"
            "others = [p for p in seen if os.path.realpath(p) != mine]\n"
            "assert not others, others\n",
            None,
        ),
    }


@pytest.fixture(scope="module")
def layers() -> set[str]:
    with ImportChecker(Runtime("3.1.3"), workers=1, install_providers=False) as checker:
        return set(checker.workers[0].sandbox)


def _listen(path: Path, received: list[bytes]) -> socket.socket:
    """A host UNIX socket anyone may connect to, recording what it is sent."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o666)
    server.listen(8)
    server.settimeout(0.2)

    def serve() -> None:
        while server.fileno() != -1:
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    received.append(b"connected:" + conn.recv(100))
                except OSError:
                    received.append(b"connected")

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dageval.Verdict], dict[str, object]]:
    outside = tmp_path_factory.mktemp("outside")
    outside.chmod(0o755)  # as open as a host folder can be: the sandbox must still not see into it
    (outside / "sentinel.txt").write_text("host data")
    runtime_home = Runtime("3.1.3").ensure().airflow_home
    runtime_lock = runtime_home.parent.parent / f".{runtime_home.parent.name}.lock"
    lock_before = runtime_lock.read_bytes() if runtime_lock.is_file() else b""
    lock_mode = runtime_lock.stat().st_mode if runtime_lock.is_file() else None
    if lock_mode is not None:
        runtime_lock.chmod(0o666)  # as the issue found it (made under umask 0): the sandbox must not reach it
    os.environ["DAGEVAL_SECRET"] = "do-not-leak"
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = CALLER_FERNET_KEY
    for leftover in (Path("/run/lock", MARKER), Path("/var/lock", MARKER)):  # from an earlier, failed run
        if os.access(leftover.parent, os.W_OK):
            leftover.unlink(missing_ok=True)
    received: list[bytes] = []
    server = _listen(_socket_path(outside), received)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    table = cases(outside, runtime_home)
    # The good DAG between each hostile file: it must load every time, whatever the file before did.
    samples = []
    for name, (code, _) in table.items():
        samples.append(Sample(id=name, completion=f"```python\n{HEAD}{code}```", airflow_version="3.1.3"))
        samples.append(Sample(id=f"good_after_{name}", completion=f"```python\n{HEAD}```", airflow_version="3.1.3"))
    limits = Limits(timeout=8, cpu=20, fsize=32 * 1024**2)
    try:
        verdicts = {v.sample_id: v for v in dageval.evaluate(samples, level=Level.IMPORT, limits=limits)}
    finally:
        server.close()
        _socket_path(outside).unlink(missing_ok=True)
        del os.environ["AIRFLOW__CORE__FERNET_KEY"]
        if lock_mode is not None:
            runtime_lock.chmod(lock_mode)
    host = {
        "received": received,
        "run_lock": [p for p in ("/run/lock", "/var/lock") if Path(p, MARKER).exists()],
        "runtime_lock": (runtime_lock.read_bytes() if runtime_lock.is_file() else b"") == lock_before,
        "outside": sorted(p.name for p in outside.iterdir() if p.name != "host.sock"),
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


NAMES = list(cases(Path("/x"), Path("/y/z/w")))


def test_the_suite_is_large_enough() -> None:
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_each_hostile_file_is_judged_with_a_clear_reason(
    outcome: tuple[dict[str, dageval.Verdict], dict[str, object]], layers: set[str], name: str
) -> None:
    verdicts, _ = outcome
    verdict = verdicts[name]
    expected = cases(Path("/x"), Path("/y/z/w"))[name][1]
    if name in NEEDS_FORK and "nproc" in layers:
        expected = "import_error"  # BlockingIOError: the sandbox gives a file no second process
    last = verdict.results[-1]
    assert last.level == Level.IMPORT, verdict.results
    if expected is None:
        assert last.ok, last
    else:
        assert not last.ok and last.category in ((expected,) if isinstance(expected, str) else expected), last
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


def test_the_sandbox_reports_its_layers(layers: set[str]) -> None:
    if os.geteuid() == 0:
        assert {"pid", "mount", "net", "init", "filesystem", "uid"} <= layers
    else:
        assert "net" in layers or not layers  # an unprivileged user gets what the kernel allows
    assert len(layers & {"cgroup", "nproc"}) == 1, "how the whole tree's memory is capped"


def test_crashes_are_reported_at_once(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    verdicts, _ = outcome
    assert "signal 11" in verdicts["segfault"].results[-1].message
    assert "signal 6" in verdicts["abort"].results[-1].message


def test_no_secret_reaches_a_verdict(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    verdicts, _ = outcome
    for name in ("fernet_key_in_message", "fernet_key_from_config"):
        message = verdicts[name].results[-1].message
        assert "[redacted]" in message, message
    text = "".join(v.model_dump_json() for v in verdicts.values())
    assert CALLER_FERNET_KEY not in text
    assert "do-not-leak" not in text


def test_nothing_written_outlives_the_sandbox(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    _, host = outcome
    assert host["run_lock"] == []
    assert host["runtime_lock"], "the runtime's lock file was written"


def test_host_unix_sockets_are_out_of_reach(outcome: tuple[dict[str, dageval.Verdict], dict[str, object]]) -> None:
    _, host = outcome
    assert host["received"] == []


def test_a_stuck_worker_is_killed_and_replaced() -> None:
    """Whatever the worker does, a file's verdict comes within its timeout plus a grace period: a worker stuck in
    the middle of a file (stopped here from outside) costs that file a timeout, and the next file is judged right
    by a new worker; a worker stuck before it takes a file costs that file nothing."""
    sleeper = HEAD + "import time\ntime.sleep(4)\n"
    with ImportChecker(Runtime("3.1.3"), workers=1, limits=Limits(timeout=3), install_providers=False) as checker:
        first = checker.workers[0].proc.pid
        threading.Timer(1.5, os.kill, (first, signal.SIGSTOP)).start()
        start = time.monotonic()
        hung, after = checker.check([sleeper, HEAD])
        assert hung.category == "timeout", hung
        assert after.ok, after
        assert time.monotonic() - start < 3 + importer_module.GRACE + 30
        second = checker.workers[0].proc.pid
        assert second != first
        os.kill(second, signal.SIGSTOP)  # stuck before the next file arrives
        [good] = checker.check([HEAD])
        assert good.ok, good
        assert checker.workers[0].proc.pid != second


def test_a_linked_file_in_a_samples_folder_is_refused(tmp_path: Path) -> None:
    """`ln -s SECRET in/a.py; airflow-net eval in` read the secret as root and wrote it into verdicts.jsonl."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.py").symlink_to(secret)
    with pytest.raises(InputError, match="symbolic link"):
        dageval.read_samples(folder)
    (folder / "a.py").unlink()
    (folder / "linked").symlink_to(tmp_path, target_is_directory=True)
    (folder / "good.py").write_text(HEAD)
    [sample] = dageval.read_samples(folder)  # a linked folder is not walked either
    assert sample.id == "good.py" and sample.completion == HEAD
