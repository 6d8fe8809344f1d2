"""The one exception family of the MCP app."""

from __future__ import annotations

from dagcore import AirflowNetError


class McpAppError(AirflowNetError):
    """A tool cannot do what it was asked: no mined examples, no code to validate, a file it cannot read."""
