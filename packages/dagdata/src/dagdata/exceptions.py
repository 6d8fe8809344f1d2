"""The one exception family dagdata raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagdataError(AirflowNetError):
    """Base class of every error dagdata raises on purpose."""


class InputError(DagdataError):
    """Inputs are missing, unreadable, or do not join (instructions for unknown DAGs)."""


class TokenizerError(DagdataError):
    """The tokenizer cannot be loaded (no network here: give a local folder or a cached hub id)."""
