"""dagserve: a local OpenAI-compatible server for GGUF models that decodes parallel requests together."""

from __future__ import annotations

import importlib.metadata

from dagcore import Usage
from dagserve.client import Client, Generation, Timings
from dagserve.config import ServeConfig
from dagserve.daemon import ServerInfo, ServerStatus, server_status, start_server, state_dir, stop_server
from dagserve.exceptions import (
    BusyError,
    ChecksumError,
    ClientError,
    DagserveError,
    ModelLoadError,
    ModelNotFoundError,
    PullError,
    ServerError,
)
from dagserve.resolve import default_model, models_dir, resolve_model
from dagserve.store import ModelEntry, import_model, list_models, pull_model, remove_model
from dagserve.validate import (
    Attempt,
    RepairResult,
    Retry,
    ValidationOutcome,
    ValidationResult,
    Validator,
    generate_valid_dag,
)

__version__ = importlib.metadata.version("dagserve")

__all__ = [
    "Attempt",
    "BusyError",
    "ChecksumError",
    "Client",
    "ClientError",
    "DagserveError",
    "Generation",
    "ModelEntry",
    "ModelLoadError",
    "ModelNotFoundError",
    "PullError",
    "RepairResult",
    "Retry",
    "ServeConfig",
    "ServerError",
    "ServerInfo",
    "ServerStatus",
    "Timings",
    "Usage",
    "ValidationOutcome",
    "ValidationResult",
    "Validator",
    "__version__",
    "default_model",
    "generate_valid_dag",
    "import_model",
    "list_models",
    "models_dir",
    "pull_model",
    "remove_model",
    "resolve_model",
    "server_status",
    "start_server",
    "state_dir",
    "stop_server",
]
