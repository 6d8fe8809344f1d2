"""One model on every request of the benchmark, as the pipeline judges its first `eval.benchmark.max_prompts`.

    uv run python bench/whole_benchmark.py --model out/laptop/export/model-q8_0.gguf --config configs/laptop.yaml

The pipeline judges the first 40 of the 169 requests to fit its time; a 40-request rate has a 95% interval about
±15 points wide. This judges a finished model on all of them with the config's eval section (server, decoding,
retries), single-shot up to intent and after the retries up to import, and prints each level with its Wilson 95%
interval. It measures; it chooses nothing. Answers go to `--out` and a killed run resumes. `--max-prompts 40` judges
the pipeline's slice only (a base model whose looping retries the pipeline's judging cannot wait for).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import dageval
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config


def wilson(passed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a GGUF file")
    parser.add_argument("--config", type=Path, required=True, help="a pipeline config: its eval section")
    parser.add_argument("--out", type=Path, default=Path("out/whole-benchmark"))
    parser.add_argument("--repairs", type=int, default=None, help="retries per request (default: the config's)")
    parser.add_argument("--max-prompts", type=int, default=0, help="the first N requests only (default 0: all)")
    parser.add_argument(
        "--grammar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode under the Python answer grammar, or not (default: the config's eval.grammar)",
    )
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    judge = stages.judge_config(config.eval, "benchmark").model_copy(update={"max_prompts": args.max_prompts})
    if args.repairs is not None:
        judge = judge.model_copy(update={"repairs": args.repairs})
    if args.grammar is not None:
        judge = judge.model_copy(update={"grammar": args.grammar})
    judged = dageval.judge_model(
        args.model.stem,
        args.model,
        stages.benchmark_requests(config),
        args.out,
        judge,
        serve=stages.serve(config, args.out),
    )
    n = judged.summary.samples
    rows = []
    print(f"\n| level ({judged.prompts} requests) | single-shot | 95% CI | after {judge.repairs} retries |")
    print("|---|---:|---|---:|")
    after = judged.repairs[-1].rates if judged.repairs else {}
    for level in judged.summary.levels:
        low, high = wilson(level.passed, n)
        retried = after.get(level.level)
        shown = f"{retried:.1%}" if retried is not None else "n/a"
        print(f"| {level.level} | {level.rate:.1%} ({level.passed}) | [{low:.1%}, {high:.1%}] | {shown} |")
        rows.append({"level": level.level, "rate": level.rate, "ci": [low, high], "after_retries": retried})
    # Named by the output folder: pipelines name every export `model-q8_0.gguf`.
    out = Path(__file__).parent / "results" / f"whole_benchmark-{args.out.name}.json"
    out.parent.mkdir(exist_ok=True)
    record = {"model": str(args.model), "grammar": judge.grammar, "requests": judged.prompts, "levels": rows}
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
