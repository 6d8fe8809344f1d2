"""dagdata: mined DAGs + requests -> a clean, leak-free ChatML dataset with a card."""

from __future__ import annotations

import importlib.metadata

from dagdata.api import build_dataset, push_to_hub
from dagdata.exceptions import DagdataError, InputError, TokenizerError
from dagdata.inputs import MinedDag, Request
from dagdata.models import Conversation, DatasetConfig, DatasetSummary, FilterCounts
from dagdata.prompt import CHATML_TEMPLATE, DEFAULT_CONTRACT, PromptContract, dataset_contract

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
    "MinedDag",
    "PromptContract",
    "Request",
    "TokenizerError",
    "__version__",
    "build_dataset",
    "dataset_contract",
    "push_to_hub",
]
