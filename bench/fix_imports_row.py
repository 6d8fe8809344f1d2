"""The deterministic import fixer as its own row: a judged run's answers, re-judged with `dagcore.fix_imports`.

    uv run python bench/fix_imports_row.py out/laptop/eval/benchmark [--level intent] [--mend-quotes]

For each model folder of the experiment (`base/`, `tuned/`: completions.jsonl and verdicts.jsonl), the code of every
answer is cut out by the contract's rule, its Airflow imports moved to where the requested version has them, and the
result judged again in the same real Airflow runtimes (`--mend-quotes`: a keyword string's bare inner double quotes
made single first, where they stop the file parsing, as the product's loop does). Prints validity per level as
answered and as fixed, the answers the fixer changed, and the paired difference (fixed - as answered) with its
bootstrap CI and McNemar p. Never mixed into the free-code numbers of the report; writes
bench/results/fix_imports_row.json (fix_quotes_row.json with `--mend-quotes`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dageval
from dagcore import extract_code, fix_imports


def fixed_samples(samples: list[dageval.Sample], *, mend_quotes: bool = False) -> tuple[list[dageval.Sample], int]:
    out: list[dageval.Sample] = []
    changed = 0
    for sample in samples:
        code = extract_code(sample.completion)
        if code is None:
            out.append(sample)
            continue
        fixed = fix_imports(code, sample.airflow_version, mend_quotes=mend_quotes)
        changed += bool(fixed.changes)
        out.append(sample.model_copy(update={"completion": f"```python\n{fixed.code}\n```", "repairs": []}))
    return out, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="a folder with base/ and tuned/ judged by dageval")
    parser.add_argument("--level", default="intent")
    parser.add_argument("--mend-quotes", action="store_true", help="mend nested quotes first (dagcore.fix_quotes)")
    args = parser.parse_args()
    level = dageval.Level.from_label(args.level, "--level")
    rows = []
    for model in ("base", "tuned"):
        folder = args.experiment / model
        samples = dageval.read_samples(folder / "completions.jsonl")
        lines = (folder / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
        answered = [dageval.Verdict.model_validate_json(line) for line in lines if line.strip()]
        fixed, changed = fixed_samples(samples, mend_quotes=args.mend_quotes)
        verdicts = dageval.evaluate(fixed, level=level)
        row: dict[str, object] = {"model": model, "answers": len(samples), "changed": changed}
        for lv in dageval.Level:
            if lv > level:
                break
            comparison = dageval.compare(answered, verdicts, lv)
            row[lv.label] = comparison.model_dump()
        rows.append(row)
        print(json.dumps({"model": model, "changed": changed}), flush=True)
    print("\n| model | level | as answered | fixed | fixed - answered | 95% CI | McNemar p |")
    print("|---|---|---:|---:|---:|---|---:|")
    for row in rows:
        for lv in dageval.Level:
            if lv > level:
                break
            c = dageval.Comparison.model_validate(row[lv.label])
            print(
                f"| {row['model']} ({row['changed']} of {row['answers']} changed) | {lv.label} | {c.base_rate:.1%} | "
                f"{c.tuned_rate:.1%} | {c.difference * 100:+.1f} pts | [{c.ci_low * 100:+.1f}, {c.ci_high * 100:+.1f}]"
                f" | {c.mcnemar_p:.3g} |"
            )
    name = "fix_quotes_row.json" if args.mend_quotes else "fix_imports_row.json"
    out = Path(__file__).parent / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
