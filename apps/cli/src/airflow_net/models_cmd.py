"""`airflow-net models list|pull|import|remove`: the GGUFs dagserve can serve by name (`serve --model NAME`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

import dagserve
from airflow_net._ui import console
from dagcore.cli import one_line_errors

app = typer.Typer(
    help="The GGUF models dagserve serves by name: the bundled one, those you pull from the Hub or import.",
    no_args_is_help=True,
)


def _done(verb: str, entry: dagserve.ModelEntry) -> None:
    console.print(f"{verb} {entry.name} ({entry.size / 1e6:,.1f} MB, sha256 {entry.sha256}): {entry.path}")
    console.print(f"serve it: airflow-net serve --model {entry.name}")


@app.command("list")
@one_line_errors
def list_cmd() -> None:
    """Every model `serve --model NAME` accepts, with where it came from."""
    table = Table(title=f"models ({dagserve.models_dir()})")
    for column in ("name", "source", "size", "from"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for entry in dagserve.list_models():
        table.add_row(entry.name, entry.source, f"{entry.size / 1e6:,.1f} MB", entry.origin or str(entry.path))
    console.print(table)


@app.command("pull")
@one_line_errors
def pull(
    repo: Annotated[str, typer.Argument(help="A Hugging Face Hub repo, e.g. bartowski/SmolLM2-135M-Instruct-GGUF.")],
    filename: Annotated[str, typer.Argument(help="The GGUF file in it, e.g. SmolLM2-135M-Instruct-Q4_K_M.gguf.")],
    name: Annotated[str | None, typer.Option(help="Name to serve it by (default: the file's stem).")] = None,
    revision: Annotated[str | None, typer.Option(help="A branch, tag or commit (default: main).")] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected sha256 (default: the Hub's LFS hash).")] = None,
) -> None:
    """Download a GGUF from the Hub (HF_ENDPOINT and HF_TOKEN honoured); run it again to resume a cut download."""
    columns = (TextColumn(f"pulling {filename}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console) as bars:
        task = bars.add_task("pull", total=None)
        entry = dagserve.pull_model(
            repo,
            filename,
            name=name,
            revision=revision,
            sha256=sha256,
            progress=lambda done, total: bars.update(task, completed=done, total=total),
        )
    _done("pulled", entry)


@app.command("import")
@one_line_errors
def import_cmd(
    source: Annotated[Path, typer.Argument(help="A .gguf file, or the export folder of `airflow-net export`.")],
    name: Annotated[str | None, typer.Option(help="Name to serve it by (default: the file's stem).")] = None,
) -> None:
    """Copy a GGUF you made (`airflow-net export`) into the models folder; it keeps its prompt contract."""
    _done("imported", dagserve.import_model(source, name))


@app.command("remove")
@one_line_errors
def remove(name: Annotated[str, typer.Argument(help="The model's name (`airflow-net models list`).")]) -> None:
    """Delete a pulled or imported model."""
    entry = dagserve.remove_model(name)
    console.print(f"removed {entry.name} ({entry.path})")
