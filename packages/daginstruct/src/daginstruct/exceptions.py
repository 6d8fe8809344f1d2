"""The one exception family daginstruct raises; apps turn these into one-line messages."""

from __future__ import annotations

from dagcore import AirflowNetError


class DaginstructError(AirflowNetError):
    """Base class of every error daginstruct raises on purpose."""


class ConfigError(DaginstructError):
    """A setting is wrong or missing: unknown style or model, no API key for a backend that needs one."""


class InputError(DaginstructError):
    """The DAG records cannot be read or lack what a request needs (id, code)."""


class BackendError(DaginstructError):
    """The model endpoint failed in a way retries did not fix."""
