"""The repair loop as a metric: validity after 0, 1, ..., N repairs, per level.

A user of `airflow-net generate` or the app gets "valid after at most N repairs"; this measures exactly that,
with the same loop (dagcore's `repair_loop`) and the same judge (`dageval.Validator`). After k repairs a sample
counts at a level when the answer the loop would hand over then passed it: the best of its first k+1 answers
(dagcore's `best_index`: the valid one, else the one that came closest), so a repair never undoes a level.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from dagcore import Turn, best_index
from dageval.models import Level, RepairStep, Sample


class RepairRow(BaseModel):
    """Validity after `repairs` repairs, per level label."""

    repairs: int
    rates: dict[str, float]
    samples: int


def steps_of(turns: Sequence[Turn]) -> list[RepairStep]:
    """dagcore `Turn`s -> what a sample keeps of them (the judge's `details.levels`, as dageval writes them)."""
    return [
        RepairStep(
            completion=turn.answer.text,
            finish_reason=turn.answer.finish_reason,
            passed=turn.verdict.passed,
            category=None if turn.verdict.ok else turn.verdict.category,
        )
        for turn in turns
    ]


def repair_table(samples: Sequence[Sample], max_repairs: int, deepest: Level = Level.IMPORT) -> list[RepairRow]:
    """One row per number of repairs (0..max_repairs) over the samples that ran the loop."""
    looped = [s for s in samples if s.repairs]
    labels = [level.label for level in Level if level <= deepest]
    rows = []
    for k in range(max_repairs + 1):
        rates: dict[str, float] = {}
        for label in labels:
            ok = sum(label in s.repairs[best_index(s.repairs[: k + 1])].passed for s in looped)
            rates[label] = ok / len(looped) if looped else 0.0
        rows.append(RepairRow(repairs=k, rates=rates, samples=len(looped)))
    return rows
