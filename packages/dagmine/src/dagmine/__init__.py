"""dagmine: find Apache Airflow DAG files in git history, wheels and folders, cleaned and version-tagged."""

from __future__ import annotations

import importlib.metadata

from dagmine._dist import DistributionSource
from dagmine._folder import FolderSource
from dagmine._git import GitSource
from dagmine._mine import Miner, MineResult
from dagmine._output import Manifest
from dagmine.api import MineSummary, mine, mine_to_dir, read_records
from dagmine.exceptions import DagmineError, OutputError, RefError, SourceError
from dagmine.models import (
    DagInfo,
    DagRecord,
    Exclusion,
    ExclusionReason,
    MineConfig,
    MineStats,
    Occurrence,
    Ref,
    RefStats,
)
from dagmine.pypi import fetch as fetch_distributions
from dagmine.sources import RELEASE_TAGS, Source

__version__ = importlib.metadata.version("dagmine")

__all__ = [
    "RELEASE_TAGS",
    "DagInfo",
    "DagRecord",
    "DagmineError",
    "DistributionSource",
    "Exclusion",
    "ExclusionReason",
    "FolderSource",
    "GitSource",
    "Manifest",
    "MineConfig",
    "MineResult",
    "MineStats",
    "MineSummary",
    "Miner",
    "Occurrence",
    "OutputError",
    "Ref",
    "RefError",
    "RefStats",
    "Source",
    "SourceError",
    "__version__",
    "fetch_distributions",
    "mine",
    "mine_to_dir",
    "read_records",
]
