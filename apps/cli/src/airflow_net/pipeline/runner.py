"""Stages run in order; each is a library call that decides for itself whether there is work to do.

Every library writes a manifest with its output and returns a typed result whose `skipped` says it found that
output current (same inputs, config and package version). The runner only shows what they report, with the
time each stage took when it last did work (`stages.json`, read for display and for the report, never to decide
anything). A killed run is run again: each library resumes what it had done (instruction store, training
checkpoints, generated completions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from airflow_net._ui import console

Report = Callable[[str, int, int], None]
TIMES = "stages.json"


class StageResult(Protocol):
    @property
    def skipped(self) -> bool: ...


R = TypeVar("R", bound=StageResult)


class StageTime(BaseModel):
    seconds: float
    """How long the stage took the last time it did work."""
    finished_at: float


_TIMES = TypeAdapter(dict[str, StageTime])


class Finished(Exception):
    """The last stage asked for (`until`) is done."""


class Runner:
    """Runs stages with a live view: one line per stage (status, time) and the current stage's progress."""

    def __init__(self, out: Path, names: list[str], until: str | None = None) -> None:
        self.out = out
        self.until = until
        self.status: dict[str, str] = dict.fromkeys(names, "waiting")
        self.results: dict[str, Any] = {}
        """Each stage's typed result, by name."""
        self.times = read_times(out)
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self._live = Live(self._view(), console=console, refresh_per_second=4)

    def _view(self) -> Group:
        table = Table(title="airflow-net pipeline", show_header=True, header_style="bold")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        for name, status in self.status.items():
            spent = self.times.get(name)
            table.add_row(name, status, f"{spent.seconds:,.1f}" if spent else "")
        return Group(table, self._progress)

    def __enter__(self) -> Runner:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the live view shows progress
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        self._live.update(self._view())
        self._live.stop()
        return kind is Finished

    def __call__(self, name: str, work: Callable[[Path, Report], R]) -> R:
        """Run `work` into `<out>/<name>`; after the `until` stage, leave the `with` block."""
        self.status[name] = "[bold]running[/]"
        self._live.update(self._view())
        tasks: dict[str, TaskID] = {}
        adding = threading.Lock()  # a stage reports from several threads (answers in flight, prompt sets at once)

        def report(label: str, done: int, total: int) -> None:
            with adding:
                if label not in tasks:
                    tasks[label] = self._progress.add_task(f"{name}: {label}", total=total or None)
            self._progress.update(tasks[label], completed=done, total=total or None)

        start = time.monotonic()
        result = work(self.out / name, report)
        self.results[name] = result
        if result.skipped:
            self.status[name] = "skipped (unchanged)"
        else:
            self.status[name] = "[green]done[/]"
            self.times[name] = StageTime(seconds=time.monotonic() - start, finished_at=time.time())
            write_times(self.out, self.times)
        for task in tasks.values():
            self._progress.remove_task(task)
        self._live.update(self._view())
        if name == self.until:
            raise Finished
        return result


def read_times(out: Path) -> dict[str, StageTime]:
    try:
        return _TIMES.validate_json((out / TIMES).read_bytes())
    except (OSError, ValidationError):
        return {}


def write_times(out: Path, times: dict[str, StageTime]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{TIMES}.tmp"
    tmp.write_bytes(_TIMES.dump_json(times, indent=2))
    tmp.replace(out / TIMES)
