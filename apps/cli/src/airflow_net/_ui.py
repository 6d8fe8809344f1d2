"""What every command shows: a progress bar per stage, and a two-column summary table."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def progress_bars(to: Console | None = None) -> Progress:
    """Bars on `to` (default: stdout); a command whose stdout is data (`--json`) draws them on stderr."""
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=to or console,
    )


class StageBars:
    """A library progress callback `(stage, done, total)` drawn as one rich bar per stage."""

    def __init__(self, progress: Progress, labels: dict[str, str]) -> None:
        self.progress = progress
        self.labels = labels
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(self.labels.get(stage, stage), total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def summary_table(title: str, rows: Iterable[tuple[str, object]], *, skipped: bool = False) -> Table:
    """Name/value rows; numbers get thousands separators; `skipped` says the stage had nothing to do."""
    table = Table(title=title + (" (unchanged: nothing to do)" if skipped else ""), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    return table
