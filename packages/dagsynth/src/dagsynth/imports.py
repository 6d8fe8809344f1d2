"""Import lines for composed files, from dagcore's table of where each Airflow name lives per major version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from dagcore.names import ASSET_CLASS, module_of

__all__ = ["asset_class", "import_lines", "module_of"]


def import_lines(names: Iterable[str], major: int) -> list[str]:
    """`from module import a, b` lines, Airflow's core first, then providers, each sorted."""
    by_module: dict[str, set[str]] = defaultdict(set)
    for name in names:
        by_module[module_of(name, major)].add(name)
    order = sorted(by_module, key=lambda m: (m.startswith("airflow.providers"), m))
    return [f"from {m} import {', '.join(sorted(by_module[m], key=lambda n: (n[0].islower(), n)))}" for m in order]


def asset_class(major: int) -> str:
    """What a data-aware schedule is built from: `Dataset` in Airflow 2, `Asset` in Airflow 3."""
    return ASSET_CLASS[2 if major < 3 else 3]
