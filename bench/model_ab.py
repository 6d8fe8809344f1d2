"""Two models on the written dev set, judged the way the pipeline judges the benchmark, paired request by request.

    uv run python bench/model_ab.py A.gguf B.gguf --config configs/laptop.yaml --out out/model-ab

A training lever (what the composer writes, the steps) changes the model, so it is chosen by judging the model it
makes against the one before, never on the benchmark (a decoding lever: one model twice, `--extra-a`/`--extra-b`
setting request fields for one arm, e.g. `'{"version_guard": null}'`): each model answers the 200 written dev requests
(`bench/devset.py`) single-shot under the config's eval decoding (grammar, name guard, providers' import block, its
slots and token limit), up to intent. The table pairs the answers: how many requests each level gained and lost and
McNemar's exact p. With the config's slots the answers carry batched-decoding noise (a few points; bench/README), so
a difference is read with its p, and the rows that name a provider are shown on their own because they are where
intent fails. Answers go to `--out/<A or B>` and a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from devset import WRITTEN
from failures import kind
from provider_imports import _mcnemar, _passed

import dagcore.grammar as grammar
import dageval
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config

LEVELS = ("structure", "import", "intent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the model before (a GGUF file)")
    parser.add_argument("b", type=Path, help="the model after")
    parser.add_argument("--config", type=Path, required=True, help="a pipeline config: its eval section")
    parser.add_argument("--requests", type=Path, default=WRITTEN, help="a request set (default: the written dev set)")
    parser.add_argument("--out", type=Path, default=Path("out/model-ab"))
    parser.add_argument("--parallel", type=int, default=None, help="server slots (default: the config's eval.parallel)")
    parser.add_argument(
        "--extra-a", type=json.loads, default={}, help="request fields for A only: '{\"version_guard\": null}'"
    )
    parser.add_argument("--extra-b", type=json.loads, default={}, help="request fields for B only")
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    if args.parallel is not None:
        config = config.model_copy(update={"eval": config.eval.model_copy(update={"parallel": args.parallel})})
    judge = stages.judge_config(config.eval, "benchmark").model_copy(update={"max_prompts": 0, "repairs": 0})
    verdicts: dict[str, dict[str, dageval.Verdict]] = {}
    for arm, model, extra in (("A", args.a, args.extra_a), ("B", args.b, args.extra_b)):
        folder = args.out / arm
        asked = judge.model_copy(update={"extra": {**judge.extra, **extra}})
        dageval.judge_model(arm, model, args.requests, folder, asked, serve=stages.serve(config, folder))
        lines = (folder / "verdicts.jsonl").read_text().splitlines()
        verdicts[arm] = {v.prompt_id: v for v in (dageval.Verdict.model_validate_json(x) for x in lines if x)}

    requests = {r["id"]: r["request"] for r in map(json.loads, args.requests.read_text().splitlines()) if r}
    ids = sorted(verdicts["A"].keys() & verdicts["B"].keys())
    named = [i for i in ids if grammar.asked_imports(requests.get(i, ""))]
    print(f"\nA: {args.a}\nB: {args.b}")
    for title, subset in ((f"all {len(ids)} requests", ids), (f"the {len(named)} that name a provider", named)):
        print(f"\n| {title} | A | B | up | down | McNemar p |\n|---|---:|---:|---:|---:|---:|")
        for level in LEVELS:
            a = {i: _passed(verdicts["A"][i], level) for i in subset}
            b = {i: _passed(verdicts["B"][i], level) for i in subset}
            up = sum(b[i] and not a[i] for i in subset)
            down = sum(a[i] and not b[i] for i in subset)
            n = max(len(subset), 1)
            print(
                f"| {level} | {100 * sum(a.values()) / n:.1f}% | {100 * sum(b.values()) / n:.1f}% | {up} | {down} "
                f"| {_mcnemar(up, down):.3g} |"
            )
    for arm, judged in verdicts.items():  # where each answer stopped: the first level it failed
        stops = Counter(kind(v) if v.failure else "ok" for v in judged.values())
        print(f"{arm}: " + ", ".join(f"{category} {n}" for category, n in stops.most_common()))


if __name__ == "__main__":
    main()
