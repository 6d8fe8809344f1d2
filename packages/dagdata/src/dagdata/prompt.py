"""The prompt contract a dataset is built with, and the chat template for tokenizers that ship none.

The contract itself is defined once, in dagcore; a dataset records the one it was built with (every
conversation's `contract_version`, the manifest's `contract`), and `dataset_contract` reads it back so that
training, export and serving use that very contract.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from dagcore import DEFAULT_CONTRACT, PromptContract
from dagdata.exceptions import InputError

__all__ = ["CHATML_TEMPLATE", "DEFAULT_CONTRACT", "PromptContract", "dataset_contract"]

# A ChatML template for tokenizers that ship none (the test tokenizers, some base models).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def dataset_contract(dataset_dir: str | Path) -> PromptContract:
    """The prompt contract a dataset folder (the output of `build_dataset`) was built with; the default for a
    dataset made elsewhere (no dagdata manifest), as for a model that carries none."""
    manifest = Path(dataset_dir) / "manifest.json"
    if not manifest.is_file():
        return DEFAULT_CONTRACT
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        found = data["contract"] if "contract" in data else data["config"]["contract"]
        return PromptContract.model_validate(found)
    except (ValueError, KeyError, TypeError, ValidationError) as e:
        raise InputError(f"{manifest} holds no valid prompt contract ({e}): rebuild the dataset") from e
