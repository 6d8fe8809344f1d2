"""The one exception family dagsynth raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagsynthError(AirflowNetError):
    """Base class of every error dagsynth raises on purpose."""
