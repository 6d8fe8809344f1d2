"""Rounds of the verifier as teacher on a model a pipeline already made, judged like the pipeline judges it.

    uv run python bench/refine_round.py --config configs/laptop.yaml --rounds 1 --source out/laptop --out out/refine

Takes the finished stages of the pipeline run in `--source` (mined files, requests, base model, the dataset's
held-out split, the exported tuned model), runs the pipeline's own refine stage (`airflow_net.pipeline.refine`) with
the config's `refine` section (`--rounds` over it) into `--out`, and judges the last round's model with the config's
eval section into `--out/eval`. Copy the source run's `eval/*/base` folders there first to reuse the base's
judgement (found by content, so nothing is redone). Prints each round and the benchmark and held-out tables.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dagtune
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import load_pipeline_config
from airflow_net.pipeline.headline import comparison_table
from airflow_net.pipeline.refine import refine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True, help="a pipeline run's out folder, export stage done")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    config = load_pipeline_config(args.config)
    config = config.model_copy(update={"out": args.source})
    if args.rounds is not None:
        config = config.model_copy(update={"refine": config.refine.model_copy(update={"rounds": args.rounds})})

    def report(label: str, done: int, total: int) -> None:
        if done == total:
            print(f"  {label}: {done}/{total}", flush=True)

    source = args.source
    mined = stages.mine(config, source / "mine", report)
    instructed = stages.instruct(config, mined, source / "instruct", report)
    models = stages.base(config, source / "base", report)
    composed = stages.compose(config, source / "compose", report)
    data = stages.dataset(config, mined, instructed, composed, models, source / "dataset", report)
    # The export as its stage recorded it: the model this measures, whatever became of the train folder since.
    done = json.loads((source / "export" / "manifest.json").read_text(encoding="utf-8"))
    exported = dagtune.ExportResult.model_validate(done["result"])
    refined = refine(config, mined, instructed, composed, models, exported, args.out / "refine", report)
    for r in refined.rounds:
        rates = {lv.level: f"{lv.rate:.1%}" for lv in r.judged.summary.levels}
        print(
            f"round {r.number}: {r.judged.prompts} fresh requests, import {rates.get('import')}, intent "
            f"{rates.get('intent')}; rows: {r.answers.kept} kept, {r.answers.references} references, "
            f"{r.answers.lessons} lessons; {r.dataset.train} train conversations; loss {r.train.first_loss} -> "
            f"{r.train.last_loss}"
        )
    judged = stages.evaluate(config, data, models, refined.export, args.out / "eval", report)
    for title, experiment in judged.sets().items():
        print(f"\n{title}\n")
        print("\n".join(comparison_table(experiment, config.eval.retry)))


if __name__ == "__main__":
    main()
