"""The one exception family dagtune raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagtuneError(AirflowNetError):
    """Base class of every error dagtune raises on purpose."""


class ConfigError(DagtuneError):
    """A training or export setting is wrong, or needs hardware/extras this machine lacks."""


class ExportError(DagtuneError):
    """Merging, converting or quantising failed, or the export does not match the model."""
