"""`airflow-net-mcp` (also `python -m airflow_net_mcp` and `airflow-net mcp`): stdio, or HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from airflow_net_mcp.server import build_server
from airflow_net_mcp.settings import McpSettings
from dagcore import load_user_config
from dagcore.cli import one_line_errors

app = typer.Typer(name="airflow-net-mcp", add_completion=False, pretty_exceptions_enable=False)


@app.command()
@one_line_errors
def serve(
    http: Annotated[bool, typer.Option(help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")] = False,
    port: Annotated[int, typer.Option(help="Port for --http.")] = 8790,
    examples: Annotated[
        Path | None, typer.Option(help="The output folder of `airflow-net mine` for search_examples.")
    ] = None,
    airflow_version: Annotated[
        str | None, typer.Option(help="Version for calls that name none (default: the config's).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="OpenAI-compatible URL for generate_dag (default: the config's, else dagserve).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path or name for the local dagserve.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Token limit per generated answer.")] = 1024,
    install_runtimes: Annotated[bool, typer.Option(help="Make missing Airflow runtimes on first use.")] = False,
) -> None:
    """airflow-net's MCP server for AI editors: validate_dag, generate_dag, search_examples, airflow_versions."""
    # Flags win over the user's config (`airflow-net config`), which wins over the built-in defaults.
    saved = load_user_config()
    settings = McpSettings(
        endpoint=endpoint or saved.server_url,
        model=model or saved.model,
        airflow_version=airflow_version or (str(saved.airflow_version) if saved.airflow_version else None),
        examples=examples,
        install_runtimes=install_runtimes,
        max_tokens=max_tokens,
    )
    server = build_server(settings)
    if http:  # loopback only: the tools read local files and run code in Airflow
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run("stdio")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
