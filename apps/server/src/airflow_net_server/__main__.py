"""`airflow-net-server` (also `python -m airflow_net_server` and `airflow-net app`): the app on 127.0.0.1."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

import dageval
from airflow_net_server.app import create_app
from airflow_net_server.settings import AppSettings
from dagcore import load_user_config
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
    airflow_version: Annotated[
        str | None, typer.Option(help="The version the page offers first (default: the config's, else 3.1).")
    ] = None,
) -> None:
    """airflow-net's web app: generate -> validate -> repair, with a page at http://HOST:PORT/ (Ctrl-C stops it)."""
    dageval.Level.from_label(level, "--level")  # a bad level is one line here, not create_app's ValueError
    # Flags win over the user's config (`airflow-net config`), which wins over the built-in defaults.
    saved = load_user_config()
    settings = AppSettings(
        endpoint=endpoint or saved.server_url,
        model=model or saved.model,
        max_attempts=max_attempts,
        level=level,
        install_runtimes=install_runtimes,
    )
    first = airflow_version or (str(saved.airflow_version) if saved.airflow_version else None)
    if first:
        settings.airflow_versions = [first, *(v for v in settings.airflow_versions if v != first)]
    uvicorn.run(create_app(settings), host=host, port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
