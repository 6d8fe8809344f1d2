"""`airflow-net mcp`: the MCP server app (`airflow-net-mcp`), started as its own program."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer


def mcp_cmd(ctx: typer.Context) -> NoReturn:
    """The MCP server for AI editors (stdio; --http for streamable HTTP on 127.0.0.1): validate_dag, generate_dag,
    search_examples (--examples OUT of `airflow-net mine`), airflow_versions. `airflow-net mcp --help` for flags."""
    # Another app: exec'd, never imported (apps import packages only). Exec keeps stdio the editor's own pipes.
    command = [sys.executable, "-m", "airflow_net_mcp", *ctx.args]
    sys.stdout.flush()
    os.execv(sys.executable, command)
