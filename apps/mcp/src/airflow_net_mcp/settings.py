"""What the MCP server talks to; every field is a flag of `airflow-net mcp`, else the user's config."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class McpSettings(BaseModel):
    endpoint: str | None = None
    """An OpenAI-compatible base URL for generate_dag; None starts (or reuses) a local dagserve."""
    model: str | None = None
    """For a local dagserve: a GGUF path or a name from `airflow-net models list` (None: the bundled SmolLM2)."""
    airflow_version: str | None = None
    """The version a tool call that names none is judged for (None: the newest installed runtime)."""
    examples: Path | None = None
    """A dagmine output folder (holding dags.jsonl) that search_examples searches."""
    install_runtimes: bool = False
    """Make a missing Airflow runtime on first use (minutes) instead of stopping at the lint level."""
    max_tokens: int = Field(1024, ge=16)
    """Token limit per generated answer."""
