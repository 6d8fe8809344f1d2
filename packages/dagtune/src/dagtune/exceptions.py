"""The one exception family dagtune raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagtuneError(AirflowNetError):
    """Base class of every error dagtune raises on purpose."""


class ConfigError(DagtuneError):
    """A training or export setting is wrong, or needs hardware/extras this machine lacks."""


class MissingExtraError(ConfigError, ImportError):
    """An optional part of dagtune is not installed; the message names the command that installs it.

    Also an ImportError, so code that guards an optional import the usual way catches it."""


class ExportError(DagtuneError):
    """Merging, converting or quantising failed, or the export does not match the model."""
