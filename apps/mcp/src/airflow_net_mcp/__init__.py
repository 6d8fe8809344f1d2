"""airflow-net's MCP server: validate, generate and find Airflow DAGs from an AI editor."""

from __future__ import annotations

import importlib.metadata

__version__ = importlib.metadata.version("airflow-net-mcp")

__all__ = ["__version__"]
