"""Repair with feedback vs retries sampled afresh: which loop turns a small model's failures into valid DAGs.

    uv run python bench/repair_strategies.py --model out/laptop/export/model-q8_0.gguf --config configs/laptop.yaml \
        --dataset out/laptop/dataset --temperature 0.5 --temperature 0.8 --temperature 1.0

Serves the model with dagserve as the config's eval section does (ctx, parallel, max_tokens, sampling), and runs
dageval's generate-validate-repair loop (dagcore.repair_loop, judged by dageval's Validator in a real Airflow of
the requested version, up to import) on the dev set (`bench/devset.py`: fresh composed requests, none trained on;
`--per-version` of each series; `--on written`: the requests written by hand, `bench/devset.py`'s `WRITTEN`), once per
strategy. The loop is a decision, so it is made there; `--on benchmark` runs the benchmark's first
`eval.benchmark.max_prompts` requests instead, to report, never to choose. Strategies:

- `feedback, greedy` (`--greedy-feedback`): the rejected answer and the judge's words go back, every answer greedy;
- `feedback, retries at T`: the same conversation, the answers after the first sampled at temperature T (the first
  `--temperature` only; `--no-feedback` leaves it out);
- each of them also under the Python answer grammar (`--grammar`; otherwise as the config's `eval.grammar`);
- `afresh, retries at T` for each `--temperature`: each retry asks the request again (no rejected answer, no
  words), sampled at T: a verifier choosing among samples, as in "Is Self-Repair a Silver Bullet for Code
  Generation?" (Olausson et al., ICLR 2024), which found repair's gains over resampling modest at equal budget;
- `afresh, retries at T under the grammar` (`--retry-grammar`): the same, with only the retries decoded under the
  grammar, so the single-shot answer stays free and a sampled retry always parses.

The first answer is greedy for every strategy (the single-shot number; batched decoding makes it differ a little
from run to run, so each strategy is also read as the first failures its own retries fixed). Prints validity at import
after 0..N repairs, and at intent for the answer the loop hands over after N (the best of its answers, judged
again up to intent); writes bench/results/repair_strategies.json. Answers go to `--out/<strategy>/` and a killed
run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devset import WRITTEN, dev_prompts

import dageval
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config
from dagcore import Retry, best_index


def strategies(
    temperatures: list[float], greedy_feedback: bool, feedback: bool = True, retry_grammar: bool = False
) -> dict[str, Retry]:
    found = {"feedback, greedy": Retry()} if greedy_feedback else {}
    if feedback:
        found[f"feedback, retries at {temperatures[0]}"] = Retry(temperature=temperatures[0])
    for t in temperatures:
        found[f"afresh, retries at {t}"] = Retry(feedback=False, temperature=t)
        if retry_grammar:
            found[f"afresh, retries at {t} under the grammar"] = Retry(feedback=False, temperature=t, grammar=True)
    return found


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
    parser.add_argument("--on", choices=["dev", "written", "benchmark"], default="dev")
    parser.add_argument(
        "--dataset", type=Path, default=Path("out/laptop/dataset"), help="its training split is left out of the dev set"
    )
    parser.add_argument("--per-version", type=int, default=12, help="dev requests per Airflow series")
    parser.add_argument("--first", type=int, default=0, help="with --on written: only its first N requests")
    parser.add_argument("--temperature", type=float, action="append", help="retry temperatures (default 0.8)")
    parser.add_argument("--greedy-feedback", action="store_true", help="also feed back with greedy retries")
    parser.add_argument("--no-feedback", action="store_true", help="only retries asked afresh")
    parser.add_argument("--repairs", type=int, default=None, help="default: the config's eval.repairs")
    parser.add_argument(
        "--grammar", action="store_true", help="each strategy without and with the Python answer grammar"
    )
    parser.add_argument(
        "--retry-grammar", action="store_true", help="also each afresh strategy with only its retries under the grammar"
    )
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    section = config.eval
    repairs = args.repairs if args.repairs is not None else max(section.repairs, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.on == "dev":
        prompts = dageval.read_prompts(dev_prompts(args.dataset, args.per_version, args.out / "dev.jsonl"))
    elif args.on == "written":
        prompts = dageval.read_prompts(WRITTEN)[: args.first or None]
    else:
        prompts = dageval.read_prompts(stages.benchmark_requests(config))
        if section.benchmark.max_prompts:
            prompts = prompts[: section.benchmark.max_prompts]
    results: dict[str, tuple[list[float], float]] = {}
    """Per strategy: import after 0..N retries, and intent of the answer handed over after N."""
    serve = stages.serve(config, args.out)
    with serve(args.model) as endpoint, dageval.Validator(dageval.Level.IMPORT, install_runtimes=True) as judge:
        ways = strategies(args.temperature or [0.8], args.greedy_feedback, not args.no_feedback, args.retry_grammar)
        grammars = [False, True] if args.grammar else [section.grammar]
        for (way, retry), grammar in [(w, g) for w in ways.items() for g in grammars]:
            name = f"{way}, grammar" if grammar else way
            folder = args.out / name.replace(", ", "-").replace(" ", "-")
            settings = dageval.GenerateConfig(
                endpoint=endpoint,
                max_tokens=section.max_tokens,
                concurrency=section.parallel,
                extra=section.sampling,
                repairs=repairs,
                retry=retry,
                grammar=grammar,
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
    # The first answer is greedy but not bit-identical run to run (batched decoding), so each strategy is also read
    # paired within its own run: of the requests its first answer failed, how many its retries fixed.
    print(f"\n| strategy ({len(prompts)} {args.on} requests) | {header} | fixed by retries | intent after {repairs} |")
    print("|---|" + "---:|" * (repairs + 3))
    for name, (rates, intent) in results.items():
        failed = round((1 - rates[0]) * len(prompts))
        fixed = round((rates[-1] - rates[0]) * len(prompts))
        print(f"| {name} | {' | '.join(f'{r:.1%}' for r in rates)} | {fixed} of {failed} | {intent:.1%} |")
    out = Path("bench/results/repair_strategies.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    found = {name: {"import": rates, "intent_after": intent} for name, (rates, intent) in results.items()}
    record = {"model": str(args.model), "on": args.on, "requests": len(prompts), "results": found}
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
