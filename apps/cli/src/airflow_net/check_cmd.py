"""`airflow-net check DAG_FOLDER --from 2.10 --to 3.1`: does my folder still load after the upgrade?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from airflow_net._ui import StageBars, progress_bars
from airflow_net.check import CheckReport, html, markdown, run_check
from dagcore import load_user_config
from dagcore.cli import fail, one_line_errors

BREAKS_EXIT = 2
"""The exit code when a file that loaded before does not load in the target version (CI fails on it)."""


@one_line_errors
def check(
    folder: Annotated[Path, typer.Argument(help="Your DAG folder (every .py file that mentions airflow and dag).")],
    source: Annotated[str, typer.Option("--from", help="The Airflow version the folder runs on now.")] = "2.10",
    target: Annotated[
        str | None, typer.Option("--to", help="The version to move to (default: the config's, else 3.1).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report here: .md (markdown) or .html.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (for CI).")] = False,
    providers: Annotated[
        bool, typer.Option(help="Install the provider packages the files import into the runtimes.")
    ] = True,
    install_runtimes: Annotated[
        bool, typer.Option(help="Make a missing Airflow runtime (minutes, once) instead of stopping.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Airflow worker processes per version.")] = 2,
) -> None:
    """Load every DAG file in both Airflow versions (sandboxed) and say which break, why, and ruff's fix.

    Exits with 2 when a file that loads in --from does not load in --to."""
    target = target or str(load_user_config().airflow_version or "3.1")
    if report is not None and report.suffix not in (".md", ".html"):
        raise fail(f"--report must end in .md or .html, not {report.name!r}", 2)
    # With --json, stdout is the JSON alone: progress and tables go to stderr.
    out = Console(stderr=as_json)
    with progress_bars(out) as bars:
        result = run_check(
            folder,
            source,
            target,
            install_providers=providers,
            install_runtimes=install_runtimes,
            workers=workers,
            progress=StageBars(bars, {}),
        )
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(html(result) if report.suffix == ".html" else markdown(result), encoding="utf-8")
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        out.print(_table(result))
    counts = result.counts
    out.print(
        f"{counts['files']} files in {result.seconds:.1f} s ({result.files_per_second:.2f} files/s): "
        f"{counts['load_before']} load in {result.from_version}, {counts['load_after']} in {result.to_version}, "
        f"{counts['break']} break" + (f"; report: {report}" if report else "")
    )
    if result.breaking:
        raise typer.Exit(BREAKS_EXIT)


def _table(result: CheckReport) -> Table:
    table = Table(title=f"break in Airflow {result.to_version}", show_lines=True)
    for column in ("file", f"error in {result.to_version}", "ruff rule", "fix"):
        table.add_column(column, overflow="fold")
    for row in result.breaking:
        rule = row.rule
        explained = f"{rule.code}: {rule.message}" if rule else ""
        table.add_row(row.path, row.error_after or "", explained, (rule.fix or "") if rule else "")
    return table
