"""Exact and near duplicates of code: MinHash signatures and LSH (datasketch), clusters by union-find."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")


def normalized_hash(code: str) -> str:
    """Same code up to whitespace and comments-free lines: the exact-duplicate key."""
    lines = [line.strip() for line in code.splitlines()]
    return hashlib.sha256("\n".join(line for line in lines if line and not line.startswith("#")).encode()).hexdigest()


def _shingles(code: str, size: int) -> list[bytes]:
    tokens = _TOKEN.findall(code)
    if len(tokens) < size:
        return [" ".join(tokens).encode()]
    return list({" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)})


def _hash32(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "little")


def signatures(codes: Sequence[str], num_perm: int, shingle: int, seed: int = 1) -> list[LeanMinHash]:
    result: list[LeanMinHash] = []
    for code in codes:
        minhash = MinHash(num_perm=num_perm, seed=seed, hashfunc=_hash32)
        minhash.update_batch(_shingles(code, shingle))
        result.append(LeanMinHash(minhash))
    return result


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_clusters(sigs: Sequence[LeanMinHash], threshold: float, num_perm: int) -> list[int]:
    """Cluster id (the smallest member index) per signature; pairs at or above `threshold` are joined."""
    # LSH at the threshold itself misses some pairs just above it (it is probabilistic), and a missed pair
    # can end up on both sides of the split. Candidates come from a lower threshold (at most 0.9: datasketch
    # cannot band closer to 1); the check below keeps the result exactly at `threshold`.
    lsh = MinHashLSH(threshold=min(max(0.5, threshold - 0.2), 0.9), num_perm=num_perm)
    for i, sig in enumerate(sigs):
        lsh.insert(str(i), sig)
    clusters = UnionFind(len(sigs))
    for i, sig in enumerate(sigs):
        for key in lsh.query(sig):
            j = int(key)
            if j != i and sig.jaccard(sigs[j]) >= threshold:  # LSH gives candidates; confirm the estimate
                clusters.union(i, j)
    return [clusters.find(i) for i in range(len(sigs))]


def max_cross_similarity(
    train: Sequence[LeanMinHash], test: Sequence[LeanMinHash], num_perm: int, floor: float = 0.3
) -> float:
    """Largest estimated Jaccard between any test and any train signature, among LSH candidates above `floor`."""
    if not train or not test:
        return 0.0
    lsh = MinHashLSH(threshold=floor, num_perm=num_perm)
    for i, sig in enumerate(train):
        lsh.insert(str(i), sig)
    best = 0.0
    for sig in test:
        for key in lsh.query(sig):
            best = max(best, float(sig.jaccard(train[int(key)])))
    return float(np.round(best, 4))
