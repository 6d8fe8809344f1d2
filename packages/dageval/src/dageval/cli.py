"""`dageval runtime install|list|remove`: the isolated Airflow runtimes the import level uses.

`runtime_app` is mounted as is by `airflow-net eval runtime`, so both commands are the same code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dagcore.cli import one_line_errors
from dageval.runtime import Runtime, installed_runtimes, resolve_version

app = typer.Typer(
    name="dageval",
    help="Is generated code a valid Airflow DAG? The Airflow runtimes of its import level.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runtime_app = typer.Typer(help="The isolated Airflow runtimes of the import level.", no_args_is_help=True)
app.add_typer(runtime_app, name="runtime")

Root = Annotated[
    Path | None, typer.Option(help="Where runtimes live (default: $AIRFLOW_NET_CACHE/runtimes).", show_default=False)
]


@runtime_app.command("install")
@one_line_errors
def install(
    versions: Annotated[list[str], typer.Argument(help="3.1.x (newest 3.1), 2.10.5 (exact), ...")],
    constraints: Annotated[
        str | None, typer.Option(help="A constraints file or URL (default: Airflow's published one).")
    ] = None,
    root: Root = None,
) -> None:
    """Install Airflow versions (uv venvs, cached)."""
    for spec in versions:
        version = resolve_version(spec)
        typer.echo(f"Airflow {version}: installing (uv, cached under {root or 'the default cache'})")
        info = Runtime(version, root, constraints=constraints).ensure()
        how = f"constraints from {info.constraints}" if info.constraints else "no constraints file could be fetched"
        typer.echo(f"Airflow {version}: ready at {info.python.parent.parent} ({how})")


@runtime_app.command("list")
@one_line_errors
def list_(root: Root = None) -> None:
    """The installed runtimes."""
    found = installed_runtimes(root)
    if not found:
        typer.echo("no Airflow runtime installed: `dageval runtime install 3.1.x`")
    for info in found:
        providers = sorted(name for name, ok in info.providers.items() if ok)
        typer.echo(f"{info.version}\t{info.python.parent.parent}\tproviders: {', '.join(providers) or '-'}")


@runtime_app.command("remove")
@one_line_errors
def remove(
    versions: Annotated[list[str], typer.Argument(help="Exact versions or series (3.1.x).")],
    root: Root = None,
) -> None:
    """Delete runtimes."""
    for spec in versions:
        Runtime(resolve_version(spec), root).remove()
        typer.echo(f"Airflow {spec}: removed")


def main(argv: list[str] | None = None) -> int:
    """The `dageval` console script; returns the exit code, so `sys.exit(main())` and tests read it alike."""
    try:
        app(args=argv, prog_name="dageval")
    except SystemExit as e:  # a typer app always ends by exiting, on success too
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
