"""`compose_to_dir()`: composed DAG files and their requests, kept only where a judge says they hold.

The output fits the readers of mined records and requests (dagdata's `MinedDag` and `Request` views:
`dags.jsonl`, `instructions.jsonl`, each row marked `origin: composed`), so a dataset mixes real and composed
files by reading two folders. dagsynth judges nothing itself: the caller passes a judge (the pipeline plugs
in dageval's import and intent levels, in a real Airflow of each file's version).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dagcore import AirflowVersion, finished, stamp, write_manifest
from dagsynth.breaks import break_file
from dagsynth.compose import FORMAT, Clock, compose_one
from dagsynth.exceptions import DagsynthError
from dagsynth.models import ComposedDag, ComposeSummary, Verdict
from dagsynth.rows import atomic_jsonl, mined_row, repair_row, request_rows
from dagsynth.schedules import CronNote

Judge = Callable[[Sequence[ComposedDag]], Sequence[Verdict]]
"""Verdicts for composed files, in order."""

BROKEN = "-broken"
"""What a broken version's id adds to its file's id."""


def _twin_slots(versions: Sequence[AirflowVersion]) -> dict[AirflowVersion, int]:
    """Each version's place among the requested series of its major: 2.9 and 3.0 share slot 0, 2.10 and 3.1 slot 1."""
    slots: dict[AirflowVersion, int] = {}
    for major in sorted({v.major for v in versions}):
        for slot, v in enumerate(sorted(v for v in versions if v.major == major)):
            slots[v] = slot
    return slots


def compose(
    n: int,
    versions: Iterable[AirflowVersion | str],
    *,
    seed: int = 0,
    clock: Clock = "datetime",
    cron_note: CronNote = "clock",
    reads: bool = False,
) -> list[ComposedDag]:
    """`n` files per version, the same ones for the same seed; duplicates of code are composed once.

    Files come in version twins: the same design (domain, shape, steps, schedule, options, request) is drawn from
    one seed for one series of each major (2.9 with 3.0, 2.10 with 3.1), so where the draws agree the two files
    differ only where the versions do (imports, `Dataset`/`Asset`, SLAs) under the same request. A model that
    writes Airflow 3 imports for a 2.x request learns from such pairs that only the stated target decides them.
    """
    parsed: list[AirflowVersion] = []
    for version in versions:
        v = AirflowVersion.of(version)
        if v is None or v.major < 2:
            raise DagsynthError(f"cannot compose for Airflow {version!r}: give a 2.x or 3.x series such as 3.1")
        parsed.append(v)
    slots = _twin_slots(parsed)
    out: dict[AirflowVersion, list[ComposedDag]] = {v: [] for v in parsed}
    seen: set[str] = set()
    for i in range(n * 4):
        if all(len(made) >= n for made in out.values()):
            break
        for v in parsed:
            if len(out[v]) >= n:
                continue
            dag = compose_one(random.Random(f"{seed}:{slots[v]}:{i}"), v, clock, cron_note, reads)
            if dag.id not in seen:
                seen.add(dag.id)
                out[v].append(dag.model_copy(update={"design": f"{slots[v]}:{i}"}))
    return [dag for v in parsed for dag in out[v]]


def twins(dags: Iterable[ComposedDag]) -> int:
    """Designs that are among `dags` for more than one Airflow major, under the same request."""
    majors: dict[tuple[str, str], set[int]] = {}
    for dag in dags:
        majors.setdefault((dag.design, dag.requests[0]), set()).add(dag.airflow_version.major)
    return sum(len(found) > 1 for found in majors.values())


def _broken(dags: Sequence[ComposedDag], fraction: float, seed: int) -> list[ComposedDag]:
    """A broken version of `fraction` of the files (the same ones for the same seed): its file's id with `BROKEN`,
    the kind of mistake in `broken`."""
    out: list[ComposedDag] = []
    for dag in dags:
        rng = random.Random(f"{seed}:break:{dag.id}")
        if rng.random() >= fraction:
            continue
        found = break_file(dag.code, dag.airflow_version.major, rng)
        if found is not None:
            # Its own id: a judge may key its verdicts by id.
            out.append(dag.model_copy(update={"id": f"{dag.id}{BROKEN}", "code": found.code, "broken": found.kind}))
    return out


def _lesson(dag: ComposedDag, broken: ComposedDag, verdict: Verdict, seed: int) -> dict[str, object]:
    style = random.Random(f"{seed}:repair:{dag.id}").randrange(len(dag.requests))
    return repair_row(dag, dag.requests[style], broken.code, verdict, kind=str(broken.broken))


def compose_to_dir(
    out_dir: str | Path,
    *,
    per_version: int,
    versions: Sequence[AirflowVersion | str],
    judge: Judge | None,
    seed: int = 0,
    judged_by: str = "",
    repairs: float = 0.0,
    clock: Clock = "datetime",
    cron_note: CronNote = "clock",
    reads: bool = False,
    force: bool = False,
) -> ComposeSummary:
    """Compose, judge and write `out_dir` (`dags.jsonl`, `instructions.jsonl`, `rejected.jsonl`, manifest).

    `judged_by` names the judge (its version, its level) so that a new judge redoes the work; without a
    judge every file is kept, and the summary says none was checked. `repairs`: the fraction of files that
    also get a repair lesson: a broken version of the file (`dagsynth.breaks`) that the judge rejects, the
    judge's words on it, and the file as the fix (an extra request row with a `repair` field). Without a
    judge there are no repair lessons: a lesson is only as true as the error it shows. `reads`: some extracts read
    from Postgres, Snowflake or S3 (`dagsynth.steps.READS`).
    """
    if not 0.0 <= repairs <= 1.0:
        raise DagsynthError(f"repairs is a fraction of the composed files, between 0 and 1, not {repairs}")
    out = Path(out_dir)
    config = {
        "per_version": per_version,
        "versions": [str(v) for v in versions],
        "seed": seed,
        "format": FORMAT,
        "repairs": repairs,
        "judge": judged_by if judge else "none",
    }
    # Options only where they are not the default: composes made before an option existed still match.
    if clock != "datetime":
        config["clock"] = clock
    if cron_note != "clock":
        config["cron_note"] = cron_note
    if reads:
        config["reads"] = True
    expected = stamp("compose", "dagsynth", {}, config)
    if not force and (done := finished(out, expected)) is not None:
        return ComposeSummary.model_validate({**done.result, "skipped": True})
    dags = compose(per_version, versions, seed=seed, clock=clock, cron_note=cron_note, reads=reads)
    broken = _broken(dags, repairs, seed) if judge else []
    verdicts = list(judge([*dags, *broken])) if judge else [Verdict(ok=True, category="unchecked") for _ in dags]
    if len(verdicts) != len(dags) + len(broken):
        raise DagsynthError(f"the judge answered {len(verdicts)} verdicts for {len(dags) + len(broken)} files")
    verdicts, broken_verdicts = verdicts[: len(dags)], verdicts[len(dags) :]
    kept = [d for d, v in zip(dags, verdicts, strict=True) if v.ok]
    rejected = [(d, v) for d, v in zip(dags, verdicts, strict=True) if not v.ok]
    # A lesson needs a fix that holds and a break that the judge rejects (a break that loads teaches nothing).
    fixes = {d.id: d for d in kept}
    lessons = [
        (fixes[b.id.removesuffix(BROKEN)], b, v)
        for b, v in zip(broken, broken_verdicts, strict=True)
        if b.id.removesuffix(BROKEN) in fixes and not v.ok
    ]
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, expected)  # unfinished until the end
    atomic_jsonl(out / "dags.jsonl", (mined_row(d) for d in kept))
    requests = [*(row for d in kept for row in request_rows(d)), *(_lesson(*lesson, seed) for lesson in lessons)]
    atomic_jsonl(out / "instructions.jsonl", requests)
    atomic_jsonl(out / "rejected.jsonl", ({**mined_row(d), "verdict": v.model_dump()} for d, v in rejected))
    summary = ComposeSummary(
        out_dir=out,
        composed=len(dags),
        kept=len(kept),
        twins=twins(kept),
        by_version=dict(Counter(d.airflow_version.series for d in kept)),
        rejected=dict(Counter(v.category or "rejected" for _, v in rejected)),
        rejected_kinds=dict(Counter(k for d, _ in rejected for k in d.kinds)),
        repairs=dict(Counter(str(b.broken) for _, b, _ in lessons)),
        repairs_loaded=dict(Counter(str(b.broken) for b, v in zip(broken, broken_verdicts, strict=True) if v.ok)),
        dags_file=out / "dags.jsonl",
        instructions_file=out / "instructions.jsonl",
    )
    expected.complete = True
    expected.result = json.loads(summary.model_dump_json())
    write_manifest(out, expected)
    return summary
