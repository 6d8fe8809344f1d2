"""The one exception family dageval raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagevalError(AirflowNetError):
    """Base class of every error dageval raises on purpose."""


class InputError(DagevalError):
    """Samples cannot be read: a missing file, a line that is neither chat nor prompt/completion."""


class RuntimeUnavailableError(DagevalError):
    """An Airflow runtime cannot be created, a package cannot be installed into it, or its workers do not start."""


class GenerationError(DagevalError):
    """The endpoint could not be reached or kept failing."""


class RuntimeBrokenError(RuntimeUnavailableError):
    """A runtime was made but its environment does not hold together (`uv pip check`, or Airflow or a provider
    does not import): the environment's failure, never the judged file's."""
