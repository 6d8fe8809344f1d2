"""Stages run in order; a stage whose inputs and config are unchanged is skipped.

Each stage's key is a hash of its config and of the keys of the stages it reads from. It is
written to `<out>/<stage>/stage.json` only when the stage finishes, so a killed run starts the
unfinished stage again, and that stage's own library resumes what it had done (instruction store,
training checkpoints, generated completions).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from airflow_net._ui import console

Report = Callable[[str, int, int], None]


class StageRecord(BaseModel):
    name: str
    key: str
    seconds: float
    finished_at: float
    summary: dict[str, Any] = {}


@dataclass
class Stage:
    name: str
    config: Any
    deps: list[str]
    run: Callable[[Path, Report], dict[str, Any]]
    """Does the work into its folder; returns a small summary for the report."""
    folder: Path = field(default=Path())


def stage_key(name: str, config: Any, dep_keys: list[str]) -> str:
    blob = json.dumps({"name": name, "config": config, "deps": dep_keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _claim(folder: Path, key: str) -> None:
    """Partial outputs of an interrupted run with the same key are kept (the stage resumes from them);
    outputs made under another config are removed first, so nothing stale is resumed."""
    marker = folder / ".key"
    if folder.is_dir() and (not marker.is_file() or marker.read_text().strip() != key):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(key)


def read_record(folder: Path) -> StageRecord | None:
    path = folder / "stage.json"
    try:
        return StageRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Runner:
    """Runs stages with a live view: one line per stage (status, time) and the current stage's progress."""

    def __init__(self, out: Path, stages: list[Stage]) -> None:
        self.out = out
        self.stages = stages
        self.records: dict[str, StageRecord] = {}
        self.status: dict[str, str] = {s.name: "waiting" for s in stages}

    def _table(self) -> Table:
        table = Table(title="airflow-net pipeline", show_header=True, header_style="bold")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        for stage in self.stages:
            record = self.records.get(stage.name)
            table.add_row(stage.name, self.status[stage.name], f"{record.seconds:,.1f}" if record else "")
        return table

    def run(self, only: set[str] | None = None) -> dict[str, StageRecord]:
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        keys: dict[str, str] = {}
        with Live(Group(self._table(), progress), console=console, refresh_per_second=4) as live:
            for stage in self.stages:
                stage.folder = self.out / stage.name
                keys[stage.name] = stage_key(stage.name, stage.config, [keys[d] for d in stage.deps])
                previous = read_record(stage.folder)
                if previous is not None and previous.key == keys[stage.name]:
                    self.records[stage.name] = previous
                    self.status[stage.name] = "skipped (unchanged)"
                    live.update(Group(self._table(), progress))
                    continue
                if only is not None and stage.name not in only:
                    self.status[stage.name] = "not asked for"
                    continue
                self.status[stage.name] = "[bold]running[/]"
                live.update(Group(self._table(), progress))
                tasks: dict[str, Any] = {}

                def report(
                    label: str, done: int, total: int, stage: Stage = stage, tasks: dict[str, Any] = tasks
                ) -> None:
                    if label not in tasks:
                        tasks[label] = progress.add_task(f"{stage.name}: {label}", total=total or None)
                    progress.update(tasks[label], completed=done, total=total or None)

                start = time.monotonic()
                _claim(stage.folder, keys[stage.name])
                summary = stage.run(stage.folder, report)
                record = StageRecord(
                    name=stage.name,
                    key=keys[stage.name],
                    seconds=time.monotonic() - start,
                    finished_at=time.time(),
                    summary=summary,
                )
                tmp = stage.folder / ".stage.json.tmp"
                tmp.write_text(record.model_dump_json(indent=2), encoding="utf-8")
                tmp.replace(stage.folder / "stage.json")
                self.records[stage.name] = record
                self.status[stage.name] = "[green]done[/]"
                for task in tasks.values():
                    progress.remove_task(task)
                live.update(Group(self._table(), progress))
        return self.records
