"""What the app talks to and how hard it tries."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class AppSettings(BaseModel):
    endpoint: str | None = None
    """An OpenAI-compatible base URL; None starts (or finds) a local dagserve server."""
    model: str | None = None
    """For a local dagserve: a GGUF path or name (None: the bundled SmolLM2). Else the model name to send."""
    api_key: str | None = None
    max_attempts: int = Field(3, ge=1, le=10)
    """Generations per request: the first, then repairs fed with the validator's errors."""
    max_tokens: int = Field(1024, ge=16)
    level: str = "import"
    """The deepest validation level: extract, syntax, structure, lint or import."""
    airflow_versions: list[str] = ["3.1", "3.0", "2.10", "2.9"]
    """Offered on the page (installed runtimes are added)."""
    install_runtimes: bool = False
    """Install a missing Airflow runtime on first use (minutes) instead of stopping at the lint level."""
    runtime_root: Path | None = None
