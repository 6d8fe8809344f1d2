"""The one exception family dagmine raises; apps turn these into one-line messages."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagmineError(AirflowNetError):
    """Base class of every error dagmine raises on purpose."""


class SourceError(DagmineError):
    """A source cannot be read: not a repository, a missing path, an unreadable distribution."""


class RefError(DagmineError):
    """A ref does not exist, or a tag pattern matched nothing."""


class OutputError(DagmineError):
    """The output folder cannot be written or holds something we would overwrite by mistake."""
