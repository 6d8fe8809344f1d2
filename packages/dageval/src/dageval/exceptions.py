"""The one exception family dageval raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagevalError(AirflowNetError):
    """Base class of every error dageval raises on purpose."""


class InputError(DagevalError):
    """Samples cannot be read: a missing file, a line that is neither chat nor prompt/completion."""
