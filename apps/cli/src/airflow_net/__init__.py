"""airflow-net: the command line that composes the airflow-net libraries, one subcommand per stage."""

from __future__ import annotations

import importlib.metadata

__version__ = importlib.metadata.version("airflow-net")
__all__ = ["__version__"]
