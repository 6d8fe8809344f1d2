"""Where DAG files come from: git history, Python distributions, folders.

A source lists its refs, the Python files at each ref (by content key), and reads each distinct
content once. The miner never needs a working tree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from packaging.version import InvalidVersion, Version

from dagcore import AirflowVersion
from dagmine.models import Ref

# Final release tags: `2.10.3`, `1.10.15`, `0.5.0` (not `2.10.3rc1`, `providers-google/10.0.0`).
RELEASE_TAGS = r"^\d+\.\d+\.\d+$"


@dataclass(frozen=True, slots=True)
class Entry:
    """A Python file at a ref: its path and the key of its content."""

    ref: str
    path: str
    key: str
    size: int


@runtime_checkable
class Source(Protocol):
    """What the miner needs from a source."""

    @property
    def location(self) -> str:
        """Where it is, for the manifest and messages."""
        ...

    @property
    def kind(self) -> str: ...

    def resolve(self, refs: Sequence[str] | None = None, pattern: str | None = None) -> list[Ref]:
        """The refs to mine, oldest first. Raises `RefError` for unknown refs or an empty match."""
        ...

    def entries(self, refs: Sequence[Ref]) -> Iterator[Entry]:
        """Every Python file at each ref."""
        ...

    def read(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """The content of each key, once each, in any order."""
        ...


def ref_order(name: str) -> tuple[int, Version | str]:
    """Sort key of ref names by the version they end in (`providers-amazon/9.0.0`); other names sort after."""
    match = re.search(r"(\d+(?:\.\d+)+(?:[._-]?(?:a|b|rc|post|dev)\d*)?)$", name)
    if match:
        try:
            return (0, Version(match.group(1)))
        except InvalidVersion:
            pass
    return (1, name)


def airflow_version_of_tag(name: str) -> AirflowVersion | None:
    """`2.10.3` and `v1.8.2` name Airflow versions; other refs (`main`, a sha) do not."""
    match = re.fullmatch(r"v?(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)", name)
    return AirflowVersion(match.group(1)) if match else None


def content_key(data: bytes) -> str:
    """The git blob id of `data`: the same key a git source uses, so identical files match across sources."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
