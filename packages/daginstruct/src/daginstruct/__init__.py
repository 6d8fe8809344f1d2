"""daginstruct: the natural-language request behind each Airflow DAG, written cheaply and resumably."""

from __future__ import annotations

import importlib.metadata

from daginstruct.api import (
    DEFAULT_ANTHROPIC_MODEL,
    InstructConfig,
    InstructSummary,
    as_inputs,
    estimate_cost,
    instruct,
    make_backend,
    read_dags,
)
from daginstruct.backends.anthropic_batch import AnthropicBatchBackend, BatchState, load_state
from daginstruct.backends.anthropic_messages import AnthropicMessagesBackend
from daginstruct.backends.base import Backend
from daginstruct.backends.openai_compat import OpenAICompatBackend
from daginstruct.backends.template import TemplateBackend
from daginstruct.exceptions import BackendError, ConfigError, DaginstructError, InputError
from daginstruct.models import DagInput, Instruction, InstructionRequest, Outcome, Usage
from daginstruct.pricing import BATCH_DISCOUNT, PRICES, CostEstimate, estimate
from daginstruct.styles import STYLES, build_requests, version_label
from daginstruct.validate import Verdict, check

__version__ = importlib.metadata.version("daginstruct")

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_ANTHROPIC_MODEL",
    "PRICES",
    "STYLES",
    "AnthropicBatchBackend",
    "AnthropicMessagesBackend",
    "Backend",
    "BackendError",
    "BatchState",
    "ConfigError",
    "CostEstimate",
    "DagInput",
    "DaginstructError",
    "InputError",
    "InstructConfig",
    "InstructSummary",
    "Instruction",
    "InstructionRequest",
    "OpenAICompatBackend",
    "Outcome",
    "TemplateBackend",
    "Usage",
    "Verdict",
    "__version__",
    "as_inputs",
    "build_requests",
    "check",
    "estimate",
    "estimate_cost",
    "instruct",
    "load_state",
    "make_backend",
    "read_dags",
    "version_label",
]
