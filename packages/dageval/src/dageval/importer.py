"""Level 5: load each file with a real Airflow, in long-lived sandboxed workers of its runtime."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import ValidationError

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


class _Worker:
    """One runtime python running `_worker.py`: Airflow imported once, a fork per file."""

    def __init__(self, info_python: Path, airflow_home: Path, limits: Limits) -> None:
        config = {
            "airflow_home": str(airflow_home),
            "timeout": limits.timeout,
            "limits": limits.model_dump(exclude={"timeout"}),
        }
        self.proc = subprocess.Popen(
            [str(info_python), str(WORKER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.python = info_python
        self.sandbox: list[str] = []
        self.lock = threading.Lock()

    def wait_ready(self) -> _Worker:
        """Workers start side by side (importing Airflow takes seconds): wait for this one's first line."""
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready.startswith("{"):
            raise RuntimeUnavailableError(f"the Airflow worker did not start ({self.python})")
        self.sandbox = json.loads(ready).get("sandbox", [])
        return self

    def check(self, key: str, path: Path) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps({"id": key, "path": str(path)}) + "\n")
                self.proc.stdin.flush()
                while True:
                    line = self.proc.stdout.readline()
                    if not line:
                        return {"outcome": "worker_died"}
                    try:
                        answer: dict[str, Any] = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if answer.get("id") == key:
                        return answer
            except BrokenPipeError:
                return {"outcome": "worker_died"}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()


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
        self.workers = self._start(workers)

    def _start(self, count: int) -> list[_Worker]:
        started = [_Worker(self.info.python, self.info.airflow_home, self.limits) for _ in range(count)]
        return [worker.wait_ready() for worker in started]

    def __enter__(self) -> ImportChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; a checker kept for a long life (a server's) ends here."""
        for worker in self.workers:
            worker.close()

    def check(self, codes: Sequence[str], progress: Callable[[int, int], None] | None = None) -> list[LevelResult]:
        providers = self.info.providers
        if self.install_providers:
            wanted = providers_in(codes)
            if wanted - set(providers):
                providers = self.runtime.add_providers(wanted)
                # New packages on disk: workers that imported Airflow earlier must start again.
                self.close()
                self.workers = self._start(len(self.workers))
        results: list[LevelResult | None] = [None] * len(codes)
        broken = self.runtime.ensure().broken_providers
        for i, code in enumerate(codes):
            needs = sorted(providers_in([code]) & set(broken))
            if needs:  # the environment's failure, not the file's: never counted against the model
                why = f"{needs[0]} broke the Airflow {self.runtime.version} environment: {broken[needs[0]]}"
                results[i] = LevelResult(level=Level.IMPORT, ok=False, category="runtime_broken", message=why[:500])
        with tempfile.TemporaryDirectory(prefix="dageval-files-") as tmp:
            Path(tmp).chmod(0o755)  # the sandboxed loader runs as an unprivileged user: it must read them
            paths = []
            for i, code in enumerate(codes):
                path = Path(tmp) / f"dag_{i:06d}.py"
                path.write_text(code, encoding="utf-8")
                path.chmod(0o644)
                paths.append(path)
            done = 0
            lock = threading.Lock()

            def run(index: int) -> None:
                nonlocal done
                slot = index % len(self.workers)
                answer = self.workers[slot].check(str(index), paths[index])
                if answer.get("outcome") == "worker_died":  # the file took its worker down: a new one
                    with lock:
                        if not self.workers[slot].alive():
                            self.workers[slot] = self._start(1)[0]
                results[index] = classify(answer, providers)
                with lock:
                    done += 1
                    if progress:
                        progress(done, len(codes))

            with ThreadPoolExecutor(max_workers=len(self.workers)) as pool:
                list(pool.map(run, [i for i in range(len(codes)) if results[i] is None]))
        return [r for r in results if r is not None]
