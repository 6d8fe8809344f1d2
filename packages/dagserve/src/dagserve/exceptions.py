"""The one exception family dagserve raises."""

from __future__ import annotations

from dagcore import AirflowNetError


class DagserveError(AirflowNetError):
    """Base class of every error dagserve raises on purpose."""


class ModelNotFoundError(DagserveError):
    """No GGUF file matches what was asked for."""


class ModelLoadError(DagserveError):
    """llama.cpp could not load the model or make a context for it."""


class ServerError(DagserveError):
    """A background server could not be started, stopped or reached."""


class ClientError(DagserveError):
    """The server answered a request with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status, when the server answered."""
        self.code = code
        """The OpenAI-style error code, when the server gave one."""


class BusyError(DagserveError):
    """Every slot is busy and the waiting queue is full: try again later."""


class PullError(DagserveError):
    """A model could not be fetched from the Hub: not found, no network, the download stopped."""


class ChecksumError(DagserveError):
    """A pulled file's sha256 is not the one expected: it is refused and deleted."""
