"""The dev set every decoding and loop decision is made on: fresh composed requests, never the request benchmark.

dagsynth composes them with a seed no pipeline uses, and any file whose code is in the dataset's training split is
left out, so a model is never asked what it was trained on. Each row carries what its DAG must show (`expect`), so
the dev set is judged up to intent like the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagsynth

DEV_SEED = 9991  # no pipeline composes with it
SERIES = ["2.9", "2.10", "3.0", "3.1"]


def dev_prompts(dataset: Path, per_version: int, out: Path) -> Path:
    """Write `per_version` fresh composed requests per series (minus any trained on) to `out` as JSONL."""
    trained = {json.loads(line)["messages"][-1]["content"] for line in (dataset / "train.jsonl").open()}
    rows = []
    # The same designs in either clock (dagsynth.Clock): a design trained on in the dataset's clock is left out.
    both = zip(
        dagsynth.compose(per_version, SERIES, seed=DEV_SEED),
        dagsynth.compose(per_version, SERIES, seed=DEV_SEED, clock="pendulum"),
        strict=True,
    )
    for d, twin in both:
        if any(d.code.strip() in answer or twin.code.strip() in answer for answer in trained):
            continue
        rows.append(
            {
                "id": d.id,
                "request": d.requests[-1],
                "airflow_version": str(d.airflow_version),
                "expect": d.expect.model_dump(exclude_defaults=True),
                "tags": d.kinds,
            }
        )
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out
