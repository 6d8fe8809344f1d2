"""The import judge as an experiment uses it: warm modules and workers kept between judgements, side by side.

    uv run python bench/judge_bench.py [--per-version 40] [--rounds 3]

dagsynth composes `--per-version` short DAG files for each of Airflow 2.9, 2.10, 3.0 and 3.1 (what the compose stage
judges; they name Google, Amazon, Snowflake and other providers' operators as the benchmark's requests do), and
`dageval.evaluate` judges them to intent `--rounds` times over, as an experiment judges a model's first answers
and then each retry round. Three setups, one after the other in this process, the runtimes installed before
timing starts:

- before: each judgement starts its runtimes' workers, which warm up from the runtime's own files only;
- the workers also import the modules `dagcore.known_modules()` lists (the table of where names live);
- and one `dageval.importer.shared_checkers()` block around the rounds, so each runtime's workers start once.

Prints wall seconds, files per second and the ratio to the first setup; writes bench/results/judge.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dageval
import dagsynth
from dageval import importer

VERSIONS = ["2.9", "2.10", "3.0", "3.1"]


@contextmanager
def without_known_modules() -> Iterator[None]:
    original = importer.known_modules
    importer.known_modules = lambda: []
    try:
        yield
    finally:
        importer.known_modules = original


def judge_rounds(samples: list[dageval.Sample], rounds: int, *, known: bool, shared: bool) -> tuple[float, int]:
    start = time.perf_counter()
    passed = 0
    with nullcontext() if known else without_known_modules(), importer.shared_checkers() if shared else nullcontext():
        for _ in range(rounds):
            verdicts = dageval.evaluate(samples, level=dageval.Level.INTENT, import_workers=2)
            passed = sum(v.passed == dageval.Level.INTENT for v in verdicts)
    return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-version", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dags = dagsynth.compose(args.per_version, VERSIONS, seed=0)
    samples = [
        dageval.Sample(
            id=d.id, completion=f"```python\n{d.code}```", airflow_version=d.airflow_version, expect=d.expect
        )
        for d in dags
    ]
    dageval.evaluate(samples[:8], level=dageval.Level.IMPORT)  # runtimes and providers installed, not timed
    setups = [
        ("before: workers per judgement, warmed from the runtime's files", False, False),
        ("and dagcore's known modules warmed", True, False),
        ("and each runtime's workers shared by the rounds", True, True),
    ]
    rows = []
    for label, known, shared in setups:
        seconds, passed = judge_rounds(samples, args.rounds, known=known, shared=shared)
        rows.append({"setup": label, "seconds": seconds, "passed": passed})
    files = len(samples) * args.rounds
    print(f"{len(samples)} composed files ({args.per_version} per version), judged to intent {args.rounds} times\n")
    print("| setup | wall s | files/s | ratio | passed intent |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        ratio = rows[0]["seconds"] / row["seconds"]
        print(
            f"| {row['setup']} | {row['seconds']:.1f} | {files / row['seconds']:.1f} | {ratio:.2f}x "
            f"| {row['passed']} / {len(samples)} |"
        )
    out = Path(__file__).parent / "results" / "judge.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"per_version": args.per_version, "rounds": args.rounds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
