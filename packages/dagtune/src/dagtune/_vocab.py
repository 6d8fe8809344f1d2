"""The LM head's vocabulary in training: the tokens code is written in, not all of the tokenizer's.

Qwen2.5's vocabulary holds 151,936 tokens, most of them other languages' words. Scoring every one of them costs
the LM head's matmul and a softmax over 151,936 columns, forward and backward, at every answer position: about 1 s
for a 380-token answer on a 2-core CPU. `head_vocab: seen` scores the tokens of the training rows and of a code
corpus instead (with the four Airflow wheels the laptop pipeline mines: 19,741 tokens; a batch 1.25x faster). Every
label is among them, so the loss is the cross-entropy over that vocabulary: its normaliser leaves out the tokens
outside, which under the untuned Qwen2.5-Coder-0.5B hold 0.8% of the probability at the dataset's answer positions,
and the gradient's cosine with the whole vocabulary's is 0.9985 (bench/head_vocab_bench.py). The model keeps its whole
vocabulary; only training scores fewer tokens. Judged on the written dev set it was not adopted (bench/README).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagcore.archives import ARCHIVE_ERRORS, archive_members
from dagtune.exceptions import ConfigError

CODE_SUFFIX = ".py"
ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz")
"""Wheels and sdists: their .py members are read."""


@dataclass(frozen=True)
class HeadVocab:
    ids: Any
    """The token ids scored, ascending (a 1-D long tensor)."""
    index: Any
    """Every token id's position in `ids`, -1 for a token left out (a 1-D long tensor the size of the vocabulary)."""

    def __len__(self) -> int:
        return len(self.ids)


def corpus_texts(corpus: Path) -> Iterator[str]:
    """The Python sources in `corpus`: a .py file, a wheel, zip or sdist, or a folder of any of them. Each distinct
    file once (two releases of a package share most of their files)."""
    if not corpus.exists():
        raise ConfigError(f"head_corpus {corpus} does not exist: point it at a folder of .py files or wheels")
    files = sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else [corpus]
    seen: set[int] = set()
    for file in files:
        for text in _file_texts(file):
            if hash(text) not in seen:
                seen.add(hash(text))
                yield text


def _file_texts(file: Path) -> Iterable[str]:
    if file.name.endswith(CODE_SUFFIX):
        return [file.read_text(encoding="utf-8", errors="replace")]
    if not file.name.endswith(ARCHIVES):
        return []
    try:
        return [
            data.decode("utf-8", errors="replace")
            for name, _, data in archive_members(file)
            if name.endswith(CODE_SUFFIX)
        ]
    except ARCHIVE_ERRORS as e:
        raise ConfigError(f"head_corpus: cannot read {file} ({e}): remove it or fetch it again") from e


def head_vocab(tokenizer: Any, rows: Iterable[Iterable[int]], size: int, corpus: Path | None = None) -> HeadVocab:
    """The training rows' tokens, `corpus`'s and the tokenizer's special tokens, in a model of `size` logits."""
    import torch

    texts = list(corpus_texts(corpus)) if corpus is not None else []  # a missing corpus fails before any work
    ids: set[int] = set(tokenizer.all_special_ids)
    for row in rows:
        ids.update(row)
    for start in range(0, len(texts), 256):  # the fast tokenizer, 256 files a call
        for encoded in tokenizer(texts[start : start + 256], add_special_tokens=False)["input_ids"]:
            ids.update(encoded)
    kept = torch.tensor(sorted(i for i in ids if 0 <= i < size), dtype=torch.long)
    index = torch.full((size,), -1, dtype=torch.long)
    index[kept] = torch.arange(len(kept))
    return HeadVocab(ids=kept, index=index)
