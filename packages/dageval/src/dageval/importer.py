"""Level 5: load each file with a real Airflow, in long-lived sandboxed workers of its runtime."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dagcore import known_modules
from dageval.exceptions import RuntimeUnavailableError
from dageval.models import Level, LevelResult, Limits, LoadedDag
from dageval.runtime import Runtime, provider_distribution, providers_in

WORKER = Path(__file__).with_name("_worker.py")
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")


_SIGNALS: dict[int, str] = {
    signal.SIGKILL: "the memory limit, or the file killed its own process",
    signal.SIGXCPU: "the CPU-time limit",
    signal.SIGXFSZ: "the file-size limit",
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGABRT: "an abort",
}


# Beyond a file's own timeout, how long the parent waits for the worker's answer (it kills, waits, reports) and
# for the worker to take a request at all; past either, the worker is killed and another started.
GRACE = 10.0


class _Worker:
    """One runtime python running `_worker.py`: Airflow imported once, a fork per file."""

    def __init__(self, info_python: Path, airflow_home: Path, limits: Limits, fernet_key: str) -> None:
        config = {
            "airflow_home": str(airflow_home),
            "timeout": limits.timeout,
            "limits": limits.model_dump(exclude={"timeout"}),
            # Trusted and static (dagcore's table of where names live), never what a file imports: imported in the
            # worker first, so that the forks that load files find them loaded. A Google operator module costs a
            # fork over a second to import in Airflow 3.1, every time a file names one.
            "warm": known_modules(),
        }
        # Built from nothing: the caller's environment (its AIRFLOW__* settings, keys, tokens) stays out of the
        # worker and so out of every sandbox; Airflow gets a Fernet key that protects nothing.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        }
        self.proc = subprocess.Popen(
            [str(info_python), str(WORKER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.python = info_python
        self.timeout = limits.timeout
        self.sandbox: list[str] = []
        self.lock = threading.Lock()
        self._buffer = b""

    def _line(self, deadline: float) -> bytes | None:
        """The next non-empty line from the worker; b"" at its end, None when the deadline passed first."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if select.select([fd], [], [], remaining)[0]:
                    data = os.read(fd, 65536)
                    if not data:
                        return b""
                    self._buffer += data
            line, _, self._buffer = self._buffer.partition(b"\n")
            if line.strip():
                return line

    def wait_ready(self) -> _Worker:
        """Workers start side by side (importing Airflow takes seconds): wait for this one's first line."""
        ready = self._line(time.monotonic() + 300)
        if not ready or not ready.startswith(b"{"):
            self.kill()
            raise RuntimeUnavailableError(f"the Airflow worker did not start ({self.python})")
        self.sandbox = json.loads(ready).get("sandbox", [])
        return self

    def check(self, key: str, path: Path) -> dict[str, Any]:
        """The worker's answer for one file, within a wall-clock bound that holds whatever the worker does.

        `started` in an answer the worker did not give says whether the file had reached it: a worker stuck
        before taking the file is not the file's doing."""
        assert self.proc.stdin is not None
        with self.lock:
            try:
                self.proc.stdin.write((json.dumps({"id": key, "path": str(path)}) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                return {"outcome": "worker_died", "started": False}
            started = False
            deadline = time.monotonic() + GRACE
            while True:
                line = self._line(deadline)
                if line is None:
                    self.kill()
                    return {"outcome": "timeout" if started else "worker_stuck", "started": started}
                if not line:
                    return {"outcome": "worker_died", "started": started}
                try:
                    answer: dict[str, Any] = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if answer.get("id") != key:
                    continue
                if answer.get("started") is True and "outcome" not in answer:
                    started = True
                    deadline = time.monotonic() + self.timeout + GRACE
                    continue
                return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def hang_up(self) -> None:
        """No more requests: the worker ends its loop and exits."""
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def close(self) -> None:
        self.hang_up()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def classify(answer: dict[str, Any], providers: dict[str, bool]) -> LevelResult:
    """Airflow's own answer -> a verdict with a category that says what to fix."""

    def fail(category: str, message: str) -> LevelResult:
        return LevelResult(level=Level.IMPORT, ok=False, category=category, message=message[:500])

    outcome = answer.get("outcome")
    if outcome == "timeout":
        return fail("timeout", "loading the file did not finish in time (a loop or a blocking call at import)")
    if outcome == "killed":
        number = int(answer.get("signal") or 0)
        why = _SIGNALS.get(number, "it crashed or was killed")
        return fail("crashed", f"the loader was killed by signal {number}: {why}")
    if outcome == "exited":
        return fail("exited", f"the file ended the process (exit code {answer.get('code')})")
    if outcome == "sandbox_failed":
        return fail(
            "sandbox_failed", f"the sandbox could not be set up, the file was not loaded: {answer.get('message')}"
        )
    if outcome != "done":
        return fail("crashed", f"the validation worker failed: {outcome}")
    if "exception" in answer:
        return fail("import_error", str(answer["exception"]))
    errors: dict[str, str] = answer.get("import_errors") or {}
    if errors:
        text = next(iter(errors.values()))
        last = text.strip().splitlines()[-1] if text.strip() else text
        missing = _NO_MODULE.search(text)
        if missing:
            module = missing.group(1)
            if module.startswith("airflow.providers."):
                distribution = provider_distribution(module.removeprefix("airflow.providers."))
                if providers.get(distribution) is True:
                    return fail("hallucinated_module", f"{module} does not exist in {distribution}")
                if distribution in providers:
                    return fail("unknown_provider", f"{module}: no provider distribution {distribution} on PyPI")
                return fail("provider_not_installed", f"{module} needs {distribution}")
            if module.split(".")[0] == "airflow":
                return fail("hallucinated_module", f"{module} does not exist in this Airflow version")
            return fail("missing_dependency", f"{module} is not installed")
        if _CANNOT_IMPORT.search(text):
            return fail("hallucinated_name", last)
        if "Cycle detected" in text or "AirflowDagCycleException" in text:
            return fail("cycle", last)
        if "DuplicateTaskIdFound" in text or "already been added to the DAG" in text:
            return fail("duplicate_task_id", last)
        if "unexpected keyword argument" in text or "Invalid arguments were passed" in text:
            return fail("invalid_argument", last)
        return fail("import_error", last)
    dags: dict[str, int] = answer.get("dags") or {}
    if not dags:
        return fail("no_dag", "Airflow found no DAG in the file")
    if not any(dags.values()):
        return fail("no_tasks", "the DAG has no tasks")
    shapes: dict[str, dict[str, object]] = answer.get("shapes") or {}
    try:
        loaded = [LoadedDag.model_validate({**shape, "dag_id": dag_id}) for dag_id, shape in shapes.items() if shape]
    except (ValidationError, TypeError):  # a shape that cannot be read: the file loaded, its intent is unknown
        loaded = []
    message = f"{len(dags)} DAG(s), {sum(dags.values())} task(s)"
    return LevelResult(level=Level.IMPORT, ok=True, message=message, loaded=loaded)


class ImportChecker:
    """A pool of sandboxed Airflow workers for one runtime. Use as a context manager."""

    def __init__(
        self, runtime: Runtime, *, workers: int = 2, limits: Limits | None = None, install_providers: bool = True
    ) -> None:
        self.runtime = runtime
        self.info = runtime.ensure()
        self.limits = limits or Limits()
        self.install_providers = install_providers
        # A throwaway Fernet key for this runtime's workers: whatever a file reads of it protects nothing.
        self.fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.workers = self._start(workers)
        self._busy = threading.Lock()
        """One `check` at a time: installing a provider restarts every worker."""

    def _start(self, count: int) -> list[_Worker]:
        python, home = self.info.python, self.info.airflow_home
        started = [_Worker(python, home, self.limits, self.fernet_key) for _ in range(count)]
        return [worker.wait_ready() for worker in started]

    def grow(self, workers: int) -> None:
        """At least `workers` workers from now on."""
        if workers > len(self.workers):
            self.workers = [*self.workers, *self._start(workers - len(self.workers))]

    def __enter__(self) -> ImportChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; a checker kept for a long life (a server's) ends here."""
        # Told all at once, then waited for: each takes a second or more to exit Airflow's interpreter.
        for worker in self.workers:
            worker.hang_up()
        for worker in self.workers:
            worker.close()

    def _providers(self, codes: Sequence[str]) -> tuple[dict[str, bool], set[str]]:
        """Install the providers the files import, of those Airflow publishes; returns the map and the refused."""
        providers = self.info.providers
        if not self.install_providers:
            return providers, set()
        wanted = providers_in(codes)
        refused = wanted - self.runtime.allowed_providers()
        if wanted - refused - set(providers):
            providers = self.runtime.add_providers(wanted - refused)
            # New packages on disk: workers that imported Airflow earlier must start again.
            self.close()
            self.workers = self._start(len(self.workers))
        return providers, refused

    def _before(self, code: str, refused: set[str]) -> LevelResult | None:
        """The verdict of a file that is not loaded at all: it needs a refused or a broken provider."""
        needs = sorted(providers_in([code]) & refused)
        if needs:
            why = (
                f"{needs[0]} is not a provider Airflow publishes, so it was not installed "
                "(dageval installs only the providers Airflow lists)"
            )
            return LevelResult(level=Level.IMPORT, ok=False, category="provider_refused", message=why)
        broken = self.runtime.ensure().broken_providers
        needs = sorted(providers_in([code]) & set(broken))
        if needs:  # the environment's failure, not the file's: never counted against the model
            why = f"{needs[0]} broke the Airflow {self.runtime.version} environment: {broken[needs[0]]}"
            return LevelResult(level=Level.IMPORT, ok=False, category="runtime_broken", message=why[:500])
        return None

    def _answer(self, index: int, path: Path, lock: threading.Lock) -> dict[str, Any]:
        """Ask worker `index % n`; a worker that died or hung is replaced, and a file it never took is asked again."""
        slot = index % len(self.workers)
        for _ in range(2):
            answer = self.workers[slot].check(str(index), path)
            if answer.get("outcome") in ("worker_died", "worker_stuck", "timeout"):
                with lock:
                    if not self.workers[slot].alive():
                        self.workers[slot] = self._start(1)[0]
            if answer.get("started", True):
                return answer
        return answer

    def check(self, codes: Sequence[str], progress: Callable[[int, int], None] | None = None) -> list[LevelResult]:
        with self._busy:
            return self._check(codes, progress)

    def _check(self, codes: Sequence[str], progress: Callable[[int, int], None] | None) -> list[LevelResult]:
        providers, refused = self._providers(codes)
        results: list[LevelResult | None] = [self._before(code, refused) for code in codes]
        with tempfile.TemporaryDirectory(prefix="dageval-files-") as tmp:
            # Each file in a folder of its own under an unlistable one, with a name no other file can guess: the
            # sandbox binds only that folder, and even without one a file cannot list or read the others.
            Path(tmp).chmod(0o711)
            paths = []
            for i, code in enumerate(codes):
                folder = Path(tmp) / secrets.token_hex(8)
                folder.mkdir(mode=0o755)
                folder.chmod(0o755)  # the sandboxed loader runs as an unprivileged user: it must read them
                path = folder / f"dag_{i:06d}.py"
                path.write_text(code, encoding="utf-8")
                path.chmod(0o644)
                paths.append(path)
            done = 0
            lock = threading.Lock()

            def run(index: int) -> None:
                nonlocal done
                results[index] = classify(self._answer(index, paths[index], lock), providers)
                with lock:
                    done += 1
                    if progress:
                        progress(done, len(codes))

            with ThreadPoolExecutor(max_workers=len(self.workers)) as pool:
                list(pool.map(run, [i for i in range(len(codes)) if results[i] is None]))
        return [r for r in results if r is not None]


class CheckerPool:
    """Warm checkers, one per runtime (and limits), for every judgement made while `shared_checkers()` is open.

    Starting a runtime's workers costs seconds of CPU each (importing Airflow, warming it up): an experiment judges
    base and tuned, a benchmark and a held-out split, and each retry round of each, and would otherwise start every
    runtime's workers again for each. The workers fork a sandbox per file, so nothing a file does outlives it."""

    def __init__(self) -> None:
        self._checkers: dict[tuple[str, str, bool, str], ImportChecker] = {}
        self._starting: dict[tuple[str, str, bool, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def checker(
        self, runtime: Runtime, *, workers: int, limits: Limits | None, install_providers: bool
    ) -> ImportChecker:
        """The warm checker for `runtime`, started on first use with at least `workers` workers."""
        limits = limits or Limits()
        key = (runtime.version, str(runtime.dir), install_providers, limits.model_dump_json())
        with self._guard:
            starting = self._starting.setdefault(key, threading.Lock())
        # Started outside the guard: it takes seconds, and a caller of another runtime must not wait for it.
        with starting:
            found = self._checkers.get(key)
            if found is None:
                found = ImportChecker(runtime, workers=workers, limits=limits, install_providers=install_providers)
                with self._guard:
                    self._checkers[key] = found
            found.grow(workers)
        return found

    def close(self) -> None:
        with self._guard:
            checkers, self._checkers = list(self._checkers.values()), {}
        for checker in checkers:
            checker.close()


_pool: CheckerPool | None = None
"""The open pool. Process-wide, not a context variable: judgements run in threads (the repair loop's), which do
not inherit one."""
_pool_guard = threading.Lock()


@contextmanager
def shared_checkers() -> Iterator[CheckerPool]:
    """While open, every import-level judgement in this process reuses one warm checker per runtime; closed, their
    workers stop. Nested, the outer pool is used."""
    global _pool
    with _pool_guard:
        outer = _pool
        if outer is None:
            _pool = CheckerPool()
        pool = _pool
    assert pool is not None
    try:
        yield pool
    finally:
        if outer is None:
            with _pool_guard:
                _pool = None
            pool.close()


def active_pool() -> CheckerPool | None:
    return _pool


@contextmanager
def checker_for(
    runtime: Runtime, *, workers: int, limits: Limits | None = None, install_providers: bool = True
) -> Iterator[ImportChecker]:
    """The open pool's checker for `runtime`, or a checker of its own that stops when the block ends."""
    pool = _pool
    if pool is not None:
        yield pool.checker(runtime, workers=workers, limits=limits, install_providers=install_providers)
        return
    with ImportChecker(runtime, workers=workers, limits=limits, install_providers=install_providers) as checker:
        yield checker
