"""Requests an evaluation set holds never enter training, nor near-duplicates of them.

Similarity is the Jaccard index of word 3-grams (lower-cased, punctuation stripped): a request that
rewords a benchmark request but keeps its phrases scores high; two requests about the same operator in
different words do not. Exact on small sets, so no MinHash error to reason about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9_@*/:.-]+")


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def closest(requests: Sequence[str], excluded: Sequence[str]) -> list[float]:
    """For each request, its highest similarity to any excluded request (0.0 when there are none)."""
    held = [shingles(t) for t in excluded]
    out: list[float] = []
    for text in requests:
        mine = shingles(text)
        out.append(max((jaccard(mine, other) for other in held), default=0.0))
    return out
