"""What dagserve's loop stop (`stop_repeats`) would have cut from a judged run's answers, and what it would change.

    uv run python bench/loop_stop.py out/laptop/eval --gguf out/laptop/base/model-q8_0.gguf [--repeats 3]

Every answer of every attempt (first answers and retries) of each model folder under the experiments (`*/base`,
`*/tuned`: completions.jsonl) is tokenised with the served GGUF's own vocabulary and replayed through
`dagserve._loops.first_loop`, token by token, as the engine checks it. Prints per model: answers, answers the stop would
end, their share of all generated tokens it would save, and answers it would end that had finished by themselves
(a verdict could change only there; the judged levels they passed are listed). Writes bench/results/loop_stop.json.
The answers were written without the stop, so a retokenised answer can differ from the sampled tokens at a few
merges; the counts are the detector's on the text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import llama_cpp

from dagserve._loops import first_loop


def attempts(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Each answer of a sample: the repair history holds them all (the first included) when retries ran."""
    if row.get("repairs"):
        return [{"text": r["completion"], "finish": r["finish_reason"], "passed": r["passed"]} for r in row["repairs"]]
    return [{"text": row["messages"][-1]["content"], "finish": row["finish_reason"], "passed": None}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval", type=Path, help="a pipeline's eval folder (experiments with base/ and tuned/)")
    parser.add_argument("--gguf", type=Path, required=True, help="the served model, for its vocabulary")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    vocab = llama_cpp.Llama(str(args.gguf), vocab_only=True, verbose=False)
    rows: list[dict[str, Any]] = []
    for completions in sorted(args.eval.glob("*/*/completions.jsonl")):
        answers = [a for line in completions.open() for a in attempts(json.loads(line))]
        total = saved = fired = finished = 0
        changed: list[list[str]] = []
        for answer in answers:
            tokens = vocab.tokenize(answer["text"].encode(), add_bos=False, special=False)
            total += len(tokens)
            cut = first_loop(tokens, args.repeats)
            if cut is None:
                continue
            fired += 1
            saved += len(tokens) - cut
            if answer["finish"] != "length":
                finished += 1
                changed.append(answer["passed"] or [])
        rows.append(
            {
                "run": f"{completions.parent.parent.name}/{completions.parent.name}",
                "answers": len(answers),
                "stopped": fired,
                "tokens": total,
                "saved": saved,
                "finished_by_themselves": finished,
                "their_passed_levels": changed,
            }
        )
    print("| run | answers | ended by the stop | tokens | saved | of the tokens | ended early that had finished |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        share = r["saved"] / r["tokens"] if r["tokens"] else 0.0
        print(
            f"| {r['run']} | {r['answers']} | {r['stopped']} | {r['tokens']:,} | {r['saved']:,} | {share:.0%} | "
            f"{r['finished_by_themselves']} (passed: {r['their_passed_levels']}) |"
        )
    out = Path("bench/results/loop_stop.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
