"""Import lines for composed files, from dagcore's table of where each Airflow name lives per major version."""

from __future__ import annotations

from dagcore.names import ASSET_CLASS, import_lines, module_of

__all__ = ["asset_class", "import_lines", "module_of"]


def asset_class(major: int) -> str:
    """What a data-aware schedule is built from: `Dataset` in Airflow 2, `Asset` in Airflow 3."""
    return ASSET_CLASS[2 if major < 3 else 3]
