"""Import lines for composed files, from dagcore's table of where each Airflow name lives per major version."""

from __future__ import annotations

from dagcore.names import NOTED, asset_class, import_lines, module_of

__all__ = ["NOTED", "asset_class", "import_lines", "module_of"]
