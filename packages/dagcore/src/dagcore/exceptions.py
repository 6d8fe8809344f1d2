"""The one exception family dagcore raises, and the root every airflow-net package's family hangs from."""

from __future__ import annotations


class AirflowNetError(Exception):
    """Root of every error an airflow-net package raises on purpose (`DagmineError`, `DagevalError`, ...).

    Command lines catch this one class and print its message as one line; anything else is a bug."""


class DagcoreError(AirflowNetError):
    """Base class of every error dagcore raises on purpose."""


class VersionError(DagcoreError, ValueError):
    """Text that is not an Airflow version (`2.10`, `2.10.5`, `3.1.0rc1`)."""


class ChatError(DagcoreError):
    """An OpenAI-compatible endpoint could not be reached, refused the request, or answered nonsense."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status, when the server answered."""
        self.code = code
        """The error code of an OpenAI-style error body, when it had one."""


class UserConfigError(DagcoreError):
    """The user config file cannot be read, or a key or value given to `config set` is not one it holds."""
