"""`airflow-net-server` (also `python -m airflow_net_server` and `airflow-net app`): the app on 127.0.0.1."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

import dageval
from airflow_net_server.app import create_app
from airflow_net_server.settings import AppSettings
from dagcore.cli import one_line_errors

app = typer.Typer(
    name="airflow-net-server",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
@one_line_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the app.")] = 8780,
    endpoint: Annotated[
        str | None, typer.Option(help="An OpenAI-compatible base URL (default: a local dagserve).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="GGUF path or name for the local dagserve, or the model name to send.")
    ] = None,
    max_attempts: Annotated[int, typer.Option(help="Generations per request, repairs included.")] = 3,
    level: Annotated[str, typer.Option(help="Validate up to: extract, syntax, structure, lint, import.")] = "import",
    install_runtimes: Annotated[bool, typer.Option(help="Install missing Airflow runtimes on first use.")] = False,
) -> None:
    """airflow-net's web app: generate -> validate -> repair, with a page at http://HOST:PORT/ (Ctrl-C stops it)."""
    dageval.Level.from_label(level, "--level")  # a bad level is one line here, not create_app's ValueError
    settings = AppSettings(
        endpoint=endpoint, model=model, max_attempts=max_attempts, level=level, install_runtimes=install_runtimes
    )
    uvicorn.run(create_app(settings), host=host, port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
