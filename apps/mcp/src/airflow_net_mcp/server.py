"""The MCP server: four tools on the official SDK's MCPServer, each a thin async shell over `Tools`.

Tools block (an Airflow import, a generation), so each runs in a worker thread: the event loop keeps answering
the client (pings, cancellations) meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

from anyio import to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from airflow_net_mcp import __version__
from airflow_net_mcp.examples import Example
from airflow_net_mcp.settings import McpSettings
from airflow_net_mcp.tools import Generated, Runtime, Tools, Validation
from dagcore import FIX_IMPORTS_BY_DEFAULT, AirflowNetError

T = TypeVar("T")

INSTRUCTIONS = (
    "airflow-net checks Apache Airflow DAG files the way Airflow itself does: validate_dag loads a file in a real, "
    "sandboxed Airflow of the version asked for and says what fails and why; generate_dag writes one with a local "
    "model and repairs it until it loads; search_examples finds real DAG files that ship with Airflow; "
    "airflow_versions lists the Airflow versions installed for validation."
)


async def _run(func: Callable[..., T], *args: object) -> T:
    """A tool's work in a thread; an error the user can act on becomes the tool's error text, not a crash."""
    try:
        return await to_thread.run_sync(func, *args)
    except AirflowNetError as e:
        raise ToolError(str(e)) from e


def build_server(settings: McpSettings) -> MCPServer:
    tools = Tools(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        try:
            yield
        finally:
            tools.close()  # stops the Airflow workers with the server

    server: MCPServer = MCPServer("airflow-net", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan)

    @server.tool()
    async def validate_dag(
        code: Annotated[str | None, Field(description="The DAG file's Python source (or give path).")] = None,
        path: Annotated[str | None, Field(description="A DAG file on this machine (or give code).")] = None,
        airflow_version: Annotated[
            str | None, Field(description="Target Airflow version, e.g. 2.10 or 3.1.3 (default: the user's).")
        ] = None,
        level: Annotated[
            str, Field(description="Up to: extract, syntax, structure, lint (ruff AIR), import (a real Airflow).")
        ] = "import",
    ) -> Validation:
        """Is this a DAG that loads in that Airflow version? The verdict of each level, and the error to act on."""
        return await _run(tools.validate_dag, code, path, airflow_version, level)

    @server.tool()
    async def generate_dag(
        request: Annotated[str, Field(description="What the DAG should do, in words.")],
        airflow_version: Annotated[str | None, Field(description="Target Airflow version, e.g. 3.1.")] = None,
        max_repairs: Annotated[
            int, Field(description="Retries after a rejected answer, each the request asked afresh (0-5).")
        ] = 2,
        fix_imports: Annotated[
            bool,
            Field(
                description="Move Airflow imports to where the target version has them, and mend nested "
                "double quotes that stop the file parsing, before validating."
            ),
        ] = FIX_IMPORTS_BY_DEFAULT,
        spec: Annotated[
            bool,
            Field(
                description="Ask the model for a DAG spec (JSON under a schema) and render the file for the version, "
                "instead of asking for the file."
            ),
        ] = False,
    ) -> Generated:
        """Write a DAG with the local model, validate it in a real Airflow, and ask again while it fails."""
        return await _run(tools.generate_dag, request, airflow_version, max_repairs, fix_imports, spec)

    @server.tool()
    async def search_examples(
        query: Annotated[str, Field(description="Words: operators, providers, what the DAG does.")],
        airflow_version: Annotated[str | None, Field(description="Only files that shipped in this series.")] = None,
        k: Annotated[int, Field(description="How many (1-50).")] = 5,
    ) -> list[Example]:
        """Real DAG files mined from Airflow's distributions, ranked by a full-text index (SQLite FTS5, bm25)."""
        return await _run(tools.search_examples, query, airflow_version, k)

    @server.tool()
    async def airflow_versions() -> list[Runtime]:
        """The Airflow versions installed for validation, with their providers."""
        return await _run(tools.airflow_versions)

    return server
