"""`compose_to_dir()`: composed DAG files and their requests, kept only where a judge says they hold.

The output fits the readers of mined records and requests (dagdata's `MinedDag` and `Request` views:
`dags.jsonl`, `instructions.jsonl`, each row marked `origin: composed`), so a dataset mixes real and composed
files by reading two folders. dagsynth judges nothing itself: the caller passes a judge (the pipeline plugs
in dageval's import and intent levels, in a real Airflow of each file's version).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dagcore import AirflowVersion, finished, stamp, write_manifest
from dagsynth.compose import compose_one
from dagsynth.exceptions import DagsynthError
from dagsynth.models import ComposedDag, ComposeSummary, Verdict

Judge = Callable[[Sequence[ComposedDag]], Sequence[Verdict]]
"""Verdicts for composed files, in order."""

STYLES = ("terse", "plain")


def compose(n: int, versions: Iterable[AirflowVersion | str], *, seed: int = 0) -> list[ComposedDag]:
    """`n` files per version, the same ones for the same seed; duplicates of code are composed once."""
    out: list[ComposedDag] = []
    for version in versions:
        v = AirflowVersion.of(version)
        if v is None or v.major < 2:
            raise DagsynthError(f"cannot compose for Airflow {version!r}: give a 2.x or 3.x series such as 3.1")
        rng = random.Random(f"{seed}:{v.series}")
        seen: set[str] = set()
        for _ in range(n * 4):
            if len([d for d in out if d.airflow_version == v]) >= n:
                break
            dag = compose_one(rng, v)
            if dag.id not in seen:
                seen.add(dag.id)
                out.append(dag)
    return out


def _atomic_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _mined_row(dag: ComposedDag) -> dict[str, object]:
    imports = [line.split()[1] for line in dag.code.splitlines() if line.startswith("from ")]
    return {
        "id": dag.id,
        "code": dag.code,
        "paths": [f"composed/{dag.airflow_version.series}/{dag.dag_id}.py"],
        "dag_ids": [dag.dag_id],
        "operators": dag.kinds,
        "imports": imports,
        "first_version": str(dag.airflow_version),
        "last_version": str(dag.airflow_version),
        "origin": "composed",
        "expect": dag.expect.model_dump(),
    }


def _request_rows(dag: ComposedDag) -> list[dict[str, object]]:
    return [
        {
            "custom_id": f"{dag.id}-{style}",
            "dag_id": dag.id,
            "style": style,
            "text": text,
            "airflow_version": str(dag.airflow_version),
            "backend": "dagsynth",
            "origin": "composed",
        }
        for style, text in zip(STYLES, dag.requests, strict=False)
    ]


def compose_to_dir(
    out_dir: str | Path,
    *,
    per_version: int,
    versions: Sequence[AirflowVersion | str],
    judge: Judge | None,
    seed: int = 0,
    judged_by: str = "",
    force: bool = False,
) -> ComposeSummary:
    """Compose, judge and write `out_dir` (`dags.jsonl`, `instructions.jsonl`, `rejected.jsonl`, manifest).

    `judged_by` names the judge (its version, its level) so that a new judge redoes the work; without a
    judge every file is kept, and the summary says none was checked.
    """
    out = Path(out_dir)
    config = {
        "per_version": per_version,
        "versions": [str(v) for v in versions],
        "seed": seed,
        "judge": judged_by if judge else "none",
    }
    expected = stamp("compose", "dagsynth", {}, config)
    if not force and (done := finished(out, expected)) is not None:
        return ComposeSummary.model_validate({**done.result, "skipped": True})
    dags = compose(per_version, versions, seed=seed)
    verdicts = list(judge(dags)) if judge else [Verdict(ok=True, category="unchecked") for _ in dags]
    if len(verdicts) != len(dags):
        raise DagsynthError(f"the judge answered {len(verdicts)} verdicts for {len(dags)} files")
    kept = [d for d, v in zip(dags, verdicts, strict=True) if v.ok]
    rejected = [(d, v) for d, v in zip(dags, verdicts, strict=True) if not v.ok]
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, expected)  # unfinished until the end
    _atomic_jsonl(out / "dags.jsonl", (_mined_row(d) for d in kept))
    _atomic_jsonl(out / "instructions.jsonl", (row for d in kept for row in _request_rows(d)))
    _atomic_jsonl(out / "rejected.jsonl", ({**_mined_row(d), "verdict": v.model_dump()} for d, v in rejected))
    summary = ComposeSummary(
        out_dir=out,
        composed=len(dags),
        kept=len(kept),
        by_version=dict(Counter(d.airflow_version.series for d in kept)),
        rejected=dict(Counter(v.category or "rejected" for _, v in rejected)),
        rejected_kinds=dict(Counter(k for d, _ in rejected for k in d.kinds)),
        dags_file=out / "dags.jsonl",
        instructions_file=out / "instructions.jsonl",
    )
    expected.complete = True
    expected.result = json.loads(summary.model_dump_json())
    write_manifest(out, expected)
    return summary
