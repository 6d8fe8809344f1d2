"""dagtune: fine-tune a code model on Airflow DAGs, merge, export GGUF (no network), verify the export."""

from __future__ import annotations

import importlib.metadata

from dagtune._load import load_model, load_tokenizer, smollm2_gguf
from dagtune.config import LORA_TARGETS, TrainConfig, load_config
from dagtune.contract import dataset_contract, run_contract
from dagtune.exceptions import ConfigError, DagtuneError, ExportError, MissingExtraError
from dagtune.export import Agreement, ExportResult, export, merge, tokenizer_identity
from dagtune.gguf_export import convert, pre_tokenizer_name, read_metadata, tensor_types
from dagtune.materialize import Materialized, ModelExport, export_model, materialize
from dagtune.quantize import QUANTS, QuantReport, quantize
from dagtune.train import (
    TrainResult,
    build_trainer,
    read_metrics,
    resolve_backend,
    resumable,
    to_prompt_completion,
    train,
)

__version__ = importlib.metadata.version("dagtune")

__all__ = [
    "LORA_TARGETS",
    "QUANTS",
    "Agreement",
    "ConfigError",
    "DagtuneError",
    "ExportError",
    "ExportResult",
    "Materialized",
    "MissingExtraError",
    "ModelExport",
    "QuantReport",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "build_trainer",
    "convert",
    "dataset_contract",
    "export",
    "export_model",
    "load_config",
    "load_model",
    "load_tokenizer",
    "materialize",
    "merge",
    "pre_tokenizer_name",
    "quantize",
    "read_metadata",
    "read_metrics",
    "resolve_backend",
    "resumable",
    "run_contract",
    "smollm2_gguf",
    "tensor_types",
    "to_prompt_completion",
    "tokenizer_identity",
    "train",
]
