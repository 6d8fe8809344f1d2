"""The Airflow version a record targets: one typed value from mining to verdict, never re-parsed from prose.

It travels as a field (`airflow_version`) of every record; JSON holds it as its text (`"2.10.5"`, `"3.1"`).
A version names a release (`2.10.5`, `3.1.0rc1`) or a series (`2.10`: any 2.10.x); prompts state the series.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from dagcore.exceptions import VersionError

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:((?:a|b|rc)\d+))?")
_IN_TEXT = re.compile(r"(?:Airflow Version:|Apache Airflow|Airflow)\s*v?(\d+\.\d+(?:\.\d+)?)\b", re.IGNORECASE)


@functools.total_ordering
class AirflowVersion:
    """`AirflowVersion("2.10.5")`; ordered numerically (`2.9` < `2.10`), a series before its releases.

    Equal to its canonical text (`"2.10.5"`), never to another spelling (`"v2.10.5"`, `"2.10"`)."""

    __slots__ = ("major", "minor", "patch", "pre")

    major: int
    minor: int
    patch: int | None
    """None for a series (`2.10`)."""
    pre: str | None
    """A pre-release tag (`rc1`, `b2`), or None."""

    def __init__(self, text: str) -> None:
        match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise VersionError(f"an Airflow version looks like 2.10, 2.10.5 or 3.1.0rc1, not {text!r}")
        major, minor, patch, pre = match.groups()
        if pre and patch is None:
            raise VersionError(f"a pre-release names its patch (3.1.0rc1), not {text!r}")
        object.__setattr__(self, "major", int(major))
        object.__setattr__(self, "minor", int(minor))
        object.__setattr__(self, "patch", int(patch) if patch is not None else None)
        object.__setattr__(self, "pre", pre)

    @classmethod
    def of(cls, value: AirflowVersion | str | None) -> AirflowVersion | None:
        """A version from a version, its text, or None (no version known)."""
        if value is None or isinstance(value, AirflowVersion):
            return value
        return cls(value)

    @classmethod
    def find(cls, text: str) -> AirflowVersion | None:
        """The version a free-text prompt names (`Target: Apache Airflow 2.10`, `Airflow Version: 2.9.3`).

        Only for reading prompt sets made elsewhere, once, at their reader; records made here carry the field."""
        match = _IN_TEXT.search(text)
        return cls(match.group(1)) if match else None

    @property
    def series(self) -> str:
        """`2.10.5` -> `2.10`: how a request states the version."""
        return f"{self.major}.{self.minor}"

    @property
    def is_release(self) -> bool:
        """True for `2.10.5`, False for the series `2.10`."""
        return self.patch is not None

    def in_series(self, series: AirflowVersion) -> bool:
        """`2.10.5` is in `2.10` (and in `2.10.5`)."""
        if (self.major, self.minor) != (series.major, series.minor):
            return False
        return not series.is_release or self == series

    def _key(self) -> tuple[int, int, int, int, str]:
        # A series sorts before its releases; a pre-release before its final release.
        patch = -1 if self.patch is None else self.patch
        return (self.major, self.minor, patch, 0 if self.pre else 1, self.pre or "")

    def __str__(self) -> str:
        text = self.series if self.patch is None else f"{self.series}.{self.patch}"
        return text + (self.pre or "")

    def __repr__(self) -> str:
        return f"AirflowVersion({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AirflowVersion):
            return self._key() == other._key()
        if isinstance(other, str):  # its own text, as JSON holds it: `AirflowVersion("2.10.5") == "2.10.5"`
            return str(self) == other
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, AirflowVersion):
            return self._key() < other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))  # equal to its text, so it hashes like it

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("AirflowVersion is immutable")

    def __reduce__(self) -> tuple[type[AirflowVersion], tuple[str]]:
        return (AirflowVersion, (str(self),))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Validated from its text (or an instance), written as its text."""

        def validate(value: object) -> AirflowVersion:
            if isinstance(value, AirflowVersion):
                return value
            if isinstance(value, str):
                try:
                    return cls(value)
                except VersionError as e:
                    raise ValueError(str(e)) from e
            raise ValueError(f"an Airflow version is a string like 2.10.5, not {type(value).__name__}")

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.to_string_ser_schema(),
        )


def series(version: AirflowVersion | None) -> str:
    """How a request states a version: `2.10`; `latest` when none is known (as the training data says it)."""
    return version.series if version is not None else "latest"
