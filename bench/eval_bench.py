"""dageval speed at the static levels (1-4): files/s, batch in-process vs a fresh python per file.

    uv run python bench/eval_bench.py [--wheel apache-airflow-core==3.1.8] [--variants 3]

Samples are the example DAGs shipped in Airflow wheels (fetched from PyPI by dagmine, cached) and
generated-looking variants of each (prose around a fence, a cut-off answer, a cycle, Airflow 2-only
arguments). (a) runs a fresh `python` per file doing the same check (what a naive evaluator does);
(b) is dageval's in-process batch. The import level (5) is not built yet.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dageval
import dagmine

NAIVE = (
    "import ast, subprocess, sys; from ruff.__main__ import find_ruff_bin; "
    "code = open(sys.argv[1]).read(); ast.parse(code); "
    "subprocess.run([find_ruff_bin(), 'check', '--select', 'AIR', '--preview', '--isolated', '--no-cache', "
    "'--exit-zero', sys.argv[1]], capture_output=True)"
)


def variants(code: str, i: int, n: int) -> list[str]:
    out = [f"Here is your DAG:\n\n```python\n{code}```\n\nIt runs on the schedule you asked for."]
    if n > 1:
        out.append("```python\n" + code[: max(40, len(code) * 2 // 3)])  # cut off at the token limit
    if n > 2:
        out.append("```python\n" + code.replace("schedule=", "schedule_interval=") + "```")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", nargs="+", default=["apache-airflow==2.10.5", "apache-airflow-core==3.1.8"])
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--naive-files", type=int, default=60)
    args = parser.parse_args()
    wheels = dagmine.fetch_distributions(args.wheel, Path("out/dists"))
    records = list(dagmine.mine(dagmine.DistributionSource(*wheels)))
    samples = [
        dageval.Sample(id=f"{r.id}-{j}", completion=text, airflow_version=r.last_version)
        for i, r in enumerate(records)
        for j, text in enumerate(variants(r.code, i, args.variants))
    ]
    print(f"{len(records)} example DAGs from {', '.join(args.wheel)} -> {len(samples)} samples")
    rows = []
    for level in (dageval.Level.SYNTAX, dageval.Level.STRUCTURE, dageval.Level.LINT):
        start = time.perf_counter()
        verdicts = dageval.evaluate(samples, level=level)
        seconds = time.perf_counter() - start
        passed = sum(v.ok_at(level) for v in verdicts)
        rows.append((level.label, len(samples) / seconds, passed))
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, sample in enumerate(samples[: args.naive_files]):
            path = Path(tmp) / f"s{i}.py"
            path.write_text(dageval.extract(sample.completion)[0])
            files.append(path)
        start = time.perf_counter()
        for path in files:
            subprocess.run([sys.executable, "-c", NAIVE, str(path)], capture_output=True, check=False)
        naive = len(files) / (time.perf_counter() - start)
    print(f"\n{'level':<10} {'dageval files/s':>16} {'fresh python files/s':>21} {'ratio':>7} {'passed':>8}")
    for label, rate, passed in rows:
        print(f"{label:<10} {rate:>16,.0f} {naive:>21,.1f} {rate / naive:>7.0f}x {passed:>8,}")
    print("\n(the fresh-python baseline does syntax + ruff AIR per file; it is the same for every level)")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/eval.json").write_text(
        json.dumps(
            {
                "samples": len(samples),
                "naive_files_per_s": naive,
                "levels": [{"level": lb, "files_per_s": r, "passed": p} for lb, r, p in rows],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
