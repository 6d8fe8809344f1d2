"""The prompt contract a model learned, read from the data it trained on, kept in its run folder.

dagdata writes the contract a dataset was built with into the dataset's `manifest.json` (its config's
`contract`); `train` copies it into the run folder, and `export` writes that copy into the GGUF, so the exported
model is prompted the way it was trained even if the dataset has moved since.
"""

from __future__ import annotations

from pathlib import Path

import dagdata
from dagdata import PromptContract
from dagtune.config import TrainConfig
from dagtune.exceptions import ConfigError

CONTRACT_FILE = "contract.json"


def dataset_contract(dataset_dir: Path) -> PromptContract:
    """The contract dagdata built `dataset_dir` with (dagdata reads it); the default for a dataset made elsewhere."""
    try:
        return dagdata.dataset_contract(dataset_dir)
    except dagdata.InputError as e:
        raise ConfigError(str(e)) from e


def run_contract(run_dir: Path) -> PromptContract:
    """The contract recorded by `train` in `run_dir`, else the one of the dataset its config names."""
    saved = run_dir / CONTRACT_FILE
    if saved.is_file():
        return PromptContract.model_validate_json(saved.read_text(encoding="utf-8"))
    config = run_dir / "config.json"
    if config.is_file():
        return dataset_contract(TrainConfig.model_validate_json(config.read_text(encoding="utf-8")).dataset)
    raise ConfigError(f"{run_dir} is not a dagtune run folder (no {CONTRACT_FILE} or config.json): train first")
