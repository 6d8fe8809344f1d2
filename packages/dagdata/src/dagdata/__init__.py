"""dagdata: mined DAGs + requests -> a clean, leak-free ChatML dataset with a card."""

from __future__ import annotations

import importlib.metadata

from dagdata.api import build_dataset, push_to_hub
from dagdata.exceptions import DagdataError, InputError, TokenizerError
from dagdata.models import Conversation, DatasetConfig, DatasetSummary, FilterCounts
from dagdata.prompt import CHATML_TEMPLATE, DEFAULT_CONTRACT, PromptContract, extract_code, major_minor

__version__ = importlib.metadata.version("dagdata")

__all__ = [
    "CHATML_TEMPLATE",
    "DEFAULT_CONTRACT",
    "Conversation",
    "DagdataError",
    "DatasetConfig",
    "DatasetSummary",
    "FilterCounts",
    "InputError",
    "PromptContract",
    "TokenizerError",
    "__version__",
    "build_dataset",
    "extract_code",
    "major_minor",
    "push_to_hub",
]
