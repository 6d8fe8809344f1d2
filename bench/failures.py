"""Why a judged model's answers fail, side by side for several runs: one row per kind of failure.

    uv run python bench/failures.py out/laptop/eval/benchmark/tuned [OTHER_RUN/tuned ...]

Reads each folder's `verdicts.jsonl` (dageval's single-shot verdicts) and groups every failure by its level and
category; an undefined name is split into an Airflow name (one `dagcore.names` knows: a missing import) and the
file's own name (a function or variable it never defined). Prints a markdown table with a column per run.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

import dageval
from dagcore.names import CORE, PROVIDERS

AIRFLOW_NAMES = set(CORE) | set(PROVIDERS)
_UNDEFINED = re.compile(r"NameError: name '(\w+)' is not defined")


def kind(verdict: dageval.Verdict) -> str:
    """A failure's row: `level/category`, with undefined names split by whose name it is."""
    last = verdict.results[-1]
    found = _UNDEFINED.search(last.message or "")
    if found:
        name = found.group(1)
        return (
            f"{last.level.label}/undefined Airflow name ({name})"
            if name in AIRFLOW_NAMES
            else (f"{last.level.label}/undefined own name")
        )
    return f"{last.level.label}/{last.category or 'failed'}"


def failures(folder: Path, level: dageval.Level) -> tuple[Counter[str], int]:
    lines = (folder / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    verdicts = [dageval.Verdict.model_validate_json(line) for line in lines if line.strip()]
    failed = [v for v in verdicts if v.passed is None or v.passed < level]
    return Counter(kind(v) for v in failed), len(verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="folders with a dageval verdicts.jsonl")
    parser.add_argument("--level", default="intent", help="a verdict below this level is a failure")
    args = parser.parse_args()
    level = dageval.Level.from_label(args.level, "--level")
    counted = [failures(folder, level) for folder in args.runs]
    kinds = sorted({k for found, _ in counted for k in found}, key=lambda k: -sum(c[k] for c, _ in counted))
    print("| failure | " + " | ".join(str(folder) for folder in args.runs) + " |")
    print("|---|" + "---:|" * len(args.runs))
    for k in kinds:
        print(f"| {k} | " + " | ".join(str(found[k]) for found, _ in counted) + " |")
    print("| **failed / answers** | " + " | ".join(f"{sum(c.values())} / {n}" for c, n in counted) + " |")


if __name__ == "__main__":
    main()
