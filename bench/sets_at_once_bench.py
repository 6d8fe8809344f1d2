"""A model's judging in the pipeline: its prompt sets asked one after the other, or all at once, side by side.

    uv run python bench/sets_at_once_bench.py --config configs/laptop-qwen05.yaml --run out/qwen05-v27

The eval stage judges each model on two prompt sets (the benchmark's first requests and part of the held-out split)
through one dagserve with `eval.parallel` slots, one set after the other: the first set's last answers decode in a
few slots while the rest wait idle for the next set to start. Asked at once (`dageval.judge_sets(..., at_once=True)`,
off: measured here as no gain), the second set can fill them. For each model of a pipeline run (its base GGUF and
its exported one), one server, judged both ways in it as the config's eval section says (retries, grammar, levels),
each way into its own folder; with both models, the order alternates from model to model so a drift of the
machine's speed favours neither.

Prints wall seconds and the ratio per model, and the levels each way reached: those move with batched decoding's
noise (slots decoded together), not with the lever. Writes bench/results/sets_at_once.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

import dageval
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config

RESULTS = Path(__file__).parent / "results" / "sets_at_once.json"


class Way(BaseModel):
    model: str
    at_once: bool
    seconds: float
    passed: dict[str, dict[str, int]]
    """By prompt set: its prompts, and the answers that passed its two deepest levels."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the pipeline config of the run")
    parser.add_argument("--run", type=Path, required=True, help="the run's folder (its base/, export/ and dataset/)")
    parser.add_argument("--out", type=Path, default=Path("out/sets-at-once"))
    parser.add_argument("--models", nargs="+", choices=["base", "tuned"], default=["base", "tuned"])
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    quant = config.export.quant
    files = {"base": args.run / "base" / f"model-{quant}.gguf", "tuned": args.run / "export" / f"model-{quant}.gguf"}
    sets = stages.prompt_sets(config.eval, stages.benchmark_requests(config), args.run / "dataset" / "test.jsonl")
    rows: list[Way] = []
    for number, name in enumerate(args.models):
        role: Literal["base", "tuned"] = "base" if name == "base" else "tuned"
        ways = [False, True] if number % 2 == 0 else [True, False]
        # The pipeline's own server for a model (its eval section's slots and context), kept for both ways.
        with stages.serve(config, args.out / name)(files[name]) as url:
            for at_once in ways:
                folder = args.out / name / ("at-once" if at_once else "one-by-one")
                shutil.rmtree(folder, ignore_errors=True)  # each way answers afresh
                start = time.perf_counter()
                judged = dageval.judge_sets(
                    role, files[name], sets, folder, serve=partial(_served, url), at_once=at_once
                )
                seconds = time.perf_counter() - start
                passed = {j.folder.parent.name: _levels(j) for j in judged}
                rows.append(Way(model=name, at_once=at_once, seconds=round(seconds, 1), passed=passed))
                print(rows[-1].model_dump_json(), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([r.model_dump() for r in rows], indent=2) + "\n")
    _table(rows)


def _served(url: str, _model: Path) -> AbstractContextManager[str]:
    """The bench's own server, started once for both ways."""
    return nullcontext(url)


def _levels(judged: dageval.JudgedModel) -> dict[str, int]:
    """Answers that passed each level, out of `prompts`."""
    return {"prompts": judged.prompts, **{lv.level: lv.passed for lv in judged.summary.levels[-2:]}}


def _table(rows: list[Way]) -> None:
    print("\n| model | one set after the other, s | all at once, s | ratio | passed (one by one / at once) |")
    print("|---|---:|---:|---:|---|")
    for name in dict.fromkeys(r.model for r in rows):
        ways = {r.at_once: r for r in rows if r.model == name}
        before, after = ways[False], ways[True]
        passed = "; ".join(f"{s}: {before.passed[s]} / {after.passed[s]}" for s in before.passed)
        ratio = before.seconds / after.seconds
        print(f"| {name} | {before.seconds} | {after.seconds} | {ratio:.2f}x | {passed} |")


if __name__ == "__main__":
    main()
