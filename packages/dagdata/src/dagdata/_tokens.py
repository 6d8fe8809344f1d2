"""Token lengths with the target model's own tokenizer and chat template."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dagdata.exceptions import TokenizerError
from dagdata.prompt import CHATML_TEMPLATE


def load_tokenizer(name: str) -> Any:
    """A fast tokenizer from a local folder or the local hub cache; never downloads in tests."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=bool(os.environ.get("HF_HUB_OFFLINE")))
    except (OSError, ValueError) as e:
        raise TokenizerError(
            f"cannot load tokenizer {name!r}: give a local folder (a model's tokenizer files) or a hub id "
            f"that is reachable or cached ({str(e).splitlines()[0]})"
        ) from e
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def count_tokens(tokenizer: Any, conversations: Sequence[list[dict[str, str]]], batch: int = 512) -> list[int]:
    """Tokens of each whole conversation as the model sees it in training (chat template applied)."""
    lengths: list[int] = []
    for start in range(0, len(conversations), batch):
        part = conversations[start : start + batch]
        texts = tokenizer.apply_chat_template(list(part), tokenize=False)
        # One batched call into the Rust tokenizer: far faster than tokenising one by one.
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return lengths
