"""Summaries per level, pass@k, and paired base-vs-tuned comparisons with a bootstrap CI and McNemar's test,
overall and per tag."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from dageval.models import Level, Sample, Verdict


class LevelSummary(BaseModel):
    level: str
    passed: int
    failed: int
    rate: float
    categories: dict[str, int]


class Summary(BaseModel):
    samples: int
    levels: list[LevelSummary]
    pass_at_k: dict[str, dict[str, float]] = {}
    """Per level, `pass@k` over prompts with n samples each (unbiased estimator), when n > 1."""


def summarize(verdicts: Sequence[Verdict], max_level: Level = Level.LINT) -> Summary:
    levels = []
    for level in Level:
        if level > max_level:
            break
        passed = sum(v.ok_at(level) for v in verdicts)
        categories = Counter(f.category for v in verdicts if (f := v.failure) is not None and f.level <= level)
        levels.append(
            LevelSummary(
                level=level.label,
                passed=passed,
                failed=len(verdicts) - passed,
                rate=passed / len(verdicts) if verdicts else 0.0,
                categories=dict(categories.most_common()),
            )
        )
    return Summary(samples=len(verdicts), levels=levels, pass_at_k=_pass_at_k(verdicts, max_level))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for n samples of which c pass (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def _pass_at_k(verdicts: Sequence[Verdict], max_level: Level) -> dict[str, dict[str, float]]:
    by_prompt: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_prompt[verdict.prompt_id or verdict.sample_id].append(verdict)
    n = min((len(v) for v in by_prompt.values()), default=1)
    if n <= 1:
        return {}
    result: dict[str, dict[str, float]] = {}
    for level in Level:
        if level > max_level:
            break
        ks = sorted({k for k in (1, 5, 10) if k <= n} | {n})
        result[level.label] = {
            f"pass@{k}": sum(pass_at_k(len(v), sum(x.ok_at(level) for x in v), k) for v in by_prompt.values())
            / len(by_prompt)
            for k in ks
        }
    return result


class Comparison(BaseModel):
    level: str
    pairs: int
    base_rate: float
    tuned_rate: float
    difference: float
    """tuned - base, in validity rate."""
    ci_low: float
    ci_high: float
    """95% bootstrap confidence interval of the difference (paired resampling)."""
    base_only: int
    tuned_only: int
    mcnemar_p: float
    """Exact two-sided McNemar p-value on the discordant pairs."""


def compare(
    base: Sequence[Verdict], tuned: Sequence[Verdict], level: Level, *, resamples: int = 5000, seed: int = 0
) -> Comparison:
    """Pair samples by id (same prompt, same sample index) and compare validity at `level`."""
    tuned_by_id = {v.sample_id: v for v in tuned}
    pairs = [(b.ok_at(level), tuned_by_id[b.sample_id].ok_at(level)) for b in base if b.sample_id in tuned_by_id]
    if not pairs:
        raise ValueError("no sample id appears in both runs: compare runs made on the same prompts")
    n = len(pairs)
    diffs = [int(t) - int(b) for b, t in pairs]
    rng = random.Random(seed)
    boot = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    low, high = boot[int(0.025 * resamples)], boot[min(resamples - 1, int(0.975 * resamples))]
    base_only = sum(1 for b, t in pairs if b and not t)
    tuned_only = sum(1 for b, t in pairs if t and not b)
    return Comparison(
        level=level.label,
        pairs=n,
        base_rate=sum(b for b, _ in pairs) / n,
        tuned_rate=sum(t for _, t in pairs) / n,
        difference=sum(diffs) / n,
        ci_low=low,
        ci_high=high,
        base_only=base_only,
        tuned_only=tuned_only,
        mcnemar_p=mcnemar_exact(base_only, tuned_only),
    )


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test: binomial(b + c, 1/2) on the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


class TagRate(BaseModel):
    """Base and tuned validity on the samples of one tag (what a benchmark request exercises), paired by sample."""

    tag: str
    n: int
    """Samples with this tag judged for both models."""
    base_rate: float
    tuned_rate: float


def tag_rates(
    base: Sequence[Verdict], tuned: Sequence[Verdict], samples: Sequence[Sample], level: Level
) -> list[TagRate]:
    """Validity at `level` per tag of `samples` (either model's: both answered the same rows), the most
    frequent tags first. A sample counts under each of its tags; untagged samples under none."""
    tags = {sample.id: sample.tags for sample in samples}
    tuned_by_id = {v.sample_id: v for v in tuned}
    pairs: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for b in base:
        if (t := tuned_by_id.get(b.sample_id)) is not None:
            for tag in tags.get(b.sample_id, ()):
                pairs[tag].append((b.ok_at(level), t.ok_at(level)))
    rows = [
        TagRate(
            tag=tag,
            n=len(found),
            base_rate=sum(b for b, _ in found) / len(found),
            tuned_rate=sum(t for _, t in found) / len(found),
        )
        for tag, found in pairs.items()
    ]
    return sorted(rows, key=lambda row: (-row.n, row.tag))
