"""dageval speed per level: files/s, dageval vs a fresh python per file, measured side by side.

    uv run python bench/eval_bench.py [--wheel apache-airflow-core==3.1.8] [--variants 3]

Samples are the example DAGs shipped in Airflow wheels (fetched from PyPI by dagmine, cached) and
generated-looking variants of each (prose around a fence, a cut-off answer, Airflow 2-only
arguments). Levels 1-4: (a) runs a fresh `python` per file doing syntax + ruff AIR (what a naive
evaluator does); (b) is dageval's in-process batch. Level 5 (import): (a) runs the runtime's
`python` per file loading it with DagBag (Airflow imported every time, no sandbox); (b) is dageval's
pool of sandboxed workers (Airflow imported once, a fork per file). Runtimes and the providers the
files name are installed before timing starts.
"""

from __future__ import annotations

import argparse
import json
import os
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


NAIVE_IMPORT = (
    "import sys; from airflow.models.dagbag import DagBag; "
    "bag = DagBag(dag_folder=sys.argv[1], include_examples=False); print(len(bag.dags), len(bag.import_errors))"
)


def import_level(samples: list[dageval.Sample], naive_files: int, workers: int) -> tuple[float, float, float, int, int]:
    """files/s at the import level: dageval's worker pool (steady, and with its start-up) vs a fresh python per file."""
    from dageval.importer import ImportChecker
    from dageval.runtime import Runtime, providers_in

    ready = [v for v in dageval.evaluate(samples, level=dageval.Level.LINT) if v.passed == dageval.Level.LINT]
    groups: dict[str, list[str]] = {}
    for verdict in ready:
        groups.setdefault(dageval.resolve_release(verdict.airflow_version), []).append(verdict.code)
    for version, codes in groups.items():  # warm: installs are not what we time
        Runtime(version).ensure()
        Runtime(version).add_providers(providers_in(codes))
    checking = starting = 0.0
    passed = 0
    for version, codes in sorted(groups.items()):
        start = time.perf_counter()
        with ImportChecker(Runtime(version), workers=workers) as checker:
            started = time.perf_counter()
            results = checker.check(codes)
            checking += time.perf_counter() - started
            starting += started - start
        passed += sum(r.ok for r in results)
    total = sum(len(c) for c in groups.values())
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        pairs = [(version, code) for version, codes in sorted(groups.items()) for code in codes]
        step = max(1, len(pairs) // naive_files)
        for i, (version, code) in enumerate(pairs[::step][:naive_files]):
            folder = Path(tmp) / f"f{i}"
            folder.mkdir()
            (folder / "dag.py").write_text(code)
            runs.append((Runtime(version), folder))
        start = time.perf_counter()
        for runtime, folder in runs:
            env = {**os.environ, "AIRFLOW_HOME": str(runtime.airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
            subprocess.run([str(runtime.python), "-c", NAIVE_IMPORT, str(folder)], capture_output=True, env=env)
        naive = len(runs) / (time.perf_counter() - start)
    return total / checking, total / (checking + starting), naive, passed, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", nargs="+", default=["apache-airflow==2.10.5", "apache-airflow-core==3.1.8"])
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--naive-files", type=int, default=60)
    parser.add_argument("--naive-import-files", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
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
    imports = import_level(samples, args.naive_import_files, args.workers)
    print(f"\n{'level':<10} {'dageval files/s':>16} {'fresh python files/s':>21} {'ratio':>7} {'passed':>8}")
    for label, rate, passed in rows:
        print(f"{label:<10} {rate:>16,.0f} {naive:>21,.1f} {rate / naive:>7.0f}x {passed:>8,}")
    rate, with_start, naive_import, passed, judged = imports
    print(f"{'import':<10} {rate:>16,.1f} {naive_import:>21,.2f} {rate / naive_import:>7.0f}x {passed:>8,}")
    label = "  +start-up"
    print(f"{label:<10} {with_start:>16,.1f} {naive_import:>21,.2f} {with_start / naive_import:>7.0f}x")
    print(f"\n(levels 1-4: the baseline does syntax + ruff AIR per file; import: {judged} files reached level 5,")
    print(f" {args.workers} sandboxed workers vs a fresh runtime python + DagBag per file; '+start-up' counts")
    print(" the workers' one-time start per Airflow version: importing Airflow and warming up)")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/eval.json").write_text(
        json.dumps(
            {
                "samples": len(samples),
                "naive_files_per_s": naive,
                "levels": [{"level": lb, "files_per_s": r, "passed": p} for lb, r, p in rows],
                "import": {
                    "files_per_s": rate,
                    "files_per_s_with_start_up": with_start,
                    "naive_files_per_s": naive_import,
                    "passed": passed,
                    "files": judged,
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
