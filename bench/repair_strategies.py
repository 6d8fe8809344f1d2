"""Repair with feedback vs retries sampled afresh: which loop turns a small model's failures into valid DAGs.

    uv run python bench/repair_strategies.py --model out/laptop/export/model-q8_0.gguf --config configs/laptop.yaml

Serves the model with dagserve as the config's eval section does (ctx, parallel, max_tokens, sampling), and runs
dageval's generate-validate-repair loop (dagcore.repair_loop, judged by dageval's Validator in a real Airflow of
the requested version, up to import) on the benchmark's first `eval.benchmark.max_prompts` requests, once per
strategy:

- `feedback, greedy`: today's loop: the rejected answer and the judge's words go back, every answer greedy;
- `feedback, retries at T`: the same conversation, the answers after the first sampled at temperature T;
- `afresh, retries at T`: each retry asks the request again (no rejected answer, no words), sampled at T: a
  verifier choosing among samples, as in "Is Self-Repair a Silver Bullet for Code Generation?" (Olausson et
  al., ICLR 2024), which found repair's gains over resampling modest at equal budget.

The first answer is the same greedy one for every strategy (the single-shot number). Prints validity at import
after 0..N repairs, and at intent for the answer the loop hands over after N (the best of its answers, judged
again up to intent); writes bench/results/repair_strategies.json. Answers go to `--out/<strategy>/` and a killed
run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dageval
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config
from dagcore import Retry, best_index


def strategies(temperature: float) -> dict[str, Retry]:
    return {
        "feedback, greedy": Retry(),
        f"feedback, retries at {temperature}": Retry(temperature=temperature),
        f"afresh, retries at {temperature}": Retry(feedback=False, temperature=temperature),
    }


def handed_over(samples: list[dageval.Sample]) -> list[dageval.Sample]:
    """Each sample as the answer the loop hands over after its last repair (the valid one, else the closest)."""
    out = []
    for sample in samples:
        if sample.repairs:
            step = sample.repairs[best_index(sample.repairs)]
            sample = sample.model_copy(update={"completion": step.completion, "finish_reason": step.finish_reason})
        out.append(sample)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a GGUF file")
    parser.add_argument("--config", type=Path, required=True, help="a pipeline config: its eval section")
    parser.add_argument("--out", type=Path, default=Path("out/repair-strategies"))
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--repairs", type=int, default=None, help="default: the config's eval.repairs")
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    section = config.eval
    repairs = args.repairs if args.repairs is not None else max(section.repairs, 1)
    prompts = dageval.read_prompts(stages.benchmark_requests(config))
    if section.benchmark.max_prompts:
        prompts = prompts[: section.benchmark.max_prompts]
    results: dict[str, tuple[list[float], float]] = {}
    """Per strategy: import after 0..N retries, and intent of the answer handed over after N."""
    serve = stages.serve(config, args.out)
    with serve(args.model) as endpoint, dageval.Validator(dageval.Level.IMPORT, install_runtimes=True) as judge:
        for name, retry in strategies(args.temperature).items():
            folder = args.out / name.replace(", ", "-").replace(" ", "-")
            settings = dageval.GenerateConfig(
                endpoint=endpoint,
                max_tokens=section.max_tokens,
                concurrency=section.parallel,
                extra=section.sampling,
                repairs=repairs,
                retry=retry,
            )
            samples = dageval.generate(prompts, settings, folder / "completions.jsonl", None, judge)
            table = dageval.repair_table(samples, repairs, dageval.Level.IMPORT)
            final = dageval.evaluate(
                handed_over(samples), level=dageval.Level.INTENT, install_providers=section.install_providers
            )
            intent = sum(v.passed is not None and v.passed >= dageval.Level.INTENT for v in final) / len(final)
            results[name] = ([row.rates["import"] for row in table], intent)
            print(f"{name}: import {results[name][0]}, intent after {repairs} {intent:.1%}", flush=True)
    header = " | ".join(f"import after {k}" for k in range(repairs + 1))
    print(f"\n| strategy ({len(prompts)} requests) | {header} | intent after {repairs} |")
    print("|---|" + "---:|" * (repairs + 2))
    for name, (rates, intent) in results.items():
        print(f"| {name} | {' | '.join(f'{r:.1%}' for r in rates)} | {intent:.1%} |")
    out = Path("bench/results/repair_strategies.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    found = {name: {"import": rates, "intent_after": intent} for name, (rates, intent) in results.items()}
    out.write_text(json.dumps({"model": str(args.model), "results": found}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
