"""The verifier as teacher: rounds of rejection-sampling fine-tuning after training.

Each round composes fresh requests (dagsynth, a seed of the round's own, each file verified like compose's), has
the current model answer them (greedy unless the config says otherwise), judges every answer in a real Airflow of
the requested version up to intent (dageval), and writes what the judge said as rows (dagsynth.answers_to_dir):
answers it passed as the model wrote them, the composed file for requests it failed, and repair lessons for the
failures the repair loop shows. A dataset of those rows beside the mined files (the same held-out split as the
dataset stage), and beside the compose stage's files where `refine.with_compose` asks, trains the current model
further, and its export answers the next round, or the eval stage.
Every step is a library call with its own manifest: an unchanged round is found, a killed one resumes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import BaseModel

import dagdata
import dageval
import daginstruct
import dagmine
import dagsynth
import dagtune
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import PipelineConfig
from airflow_net.pipeline.runner import Report

# The failures a repair lesson shows: those the repair loop feeds back (its Validator judges up to import).
LESSON_LEVELS = frozenset(lv.label for lv in dageval.Level if dageval.Level.SYNTAX <= lv <= dageval.Level.IMPORT)


class Round(BaseModel):
    """One round: the fresh requests, the model's judged answers to them, and the model trained on what they taught."""

    number: int
    compose: dagsynth.ComposeSummary
    judged: dageval.JudgedModel
    """The answering model's verdicts on the fresh requests: the round's import and intent rates."""
    answers: dagsynth.AnswerSummary
    dataset: dagdata.DatasetSummary
    train: dagtune.TrainResult
    export: dagtune.ExportResult

    @property
    def skipped(self) -> bool:
        found = (self.compose, self.judged, self.dataset, self.train, self.export)
        return all(part.skipped for part in found)


class Refined(BaseModel):
    """The rounds run, and the model the eval stage judges: the last round's, or the export stage's without rounds."""

    rounds: list[Round] = []
    export: dagtune.ExportResult

    @property
    def skipped(self) -> bool:
        return all(r.skipped for r in self.rounds)


def refine(
    config: PipelineConfig,
    mined: dagmine.MineSummary,
    instructed: daginstruct.InstructSummary,
    composed: dagsynth.ComposeSummary,
    models: stages.BaseModels,
    exported: dagtune.ExportResult,
    folder: Path,
    report: Report,
) -> Refined:
    current = exported
    rounds: list[Round] = []
    for number in range(1, config.refine.rounds + 1):
        # The first training's composed files where asked: the round's rows join its mix instead of replacing it.
        replay = [composed.dags_file] if config.refine.with_compose and composed.kept and composed.dags_file else []
        found = _round(config, number, mined, instructed, replay, models, current, folder / f"round-{number}", report)
        rounds.append(found)
        current = found.export
    return Refined(rounds=rounds, export=current)


def _round(
    config: PipelineConfig,
    number: int,
    mined: dagmine.MineSummary,
    instructed: daginstruct.InstructSummary,
    replay: list[Path],
    models: stages.BaseModels,
    current: dagtune.ExportResult,
    folder: Path,
    report: Report,
) -> Round:
    section = config.refine
    # Requests the model never trained on: a seed apart from the compose stage's and from every other round's.
    # Only requests: no repair lessons of their own (a round's lessons come from the model's answers).
    fresh = stages.compose_fresh(
        config,
        folder / "compose",
        per_version=section.per_version,
        seed=_seed(config, number),
        repairs=0.0,
        report=report,
    )
    by_id = {d.id: d for d in dagsynth.read_composed(fresh.out_dir)}
    prompts, asked = _prompts(list(by_id.values()), folder / "prompts.jsonl", _seed(config, number))
    judge = dageval.JudgeConfig(
        level=dageval.Level.INTENT,
        n=section.n,
        max_tokens=config.eval.max_tokens,
        temperature=section.temperature,
        concurrency=config.eval.parallel,
        extra=config.eval.sampling,
        import_workers=config.eval.workers,
        install_providers=config.eval.install_providers,
        grammar=config.eval.grammar,
    )
    judged = dageval.judge_model(
        f"round {number}",
        current.gguf,
        prompts,
        folder / "answers",
        judge,
        serve=stages.serve(config, folder),
        progress=report,
    )
    answers = dagsynth.answers_to_dir(folder / "rows", _answers(judged, by_id, asked), lesson_levels=LESSON_LEVELS)
    data = dagdata.build_dataset(
        mined.out_dir,
        instructed.out_dir,
        folder / "dataset",
        stages.dataset_config(config, models),
        composed_path=[*replay, answers.dags_file],
        exclude_requests=stages.benchmark_requests(config) if config.dataset.exclude_benchmark else None,
        progress=report,
    )
    fixed = {"base_model": str(current.merged_dir), "dataset": data.out_dir, "output_dir": folder / "train"}
    trained = stages.train_model({**config.train.settings, **section.settings, **fixed}, config, report)
    made = dagtune.export(
        trained.run_dir, out_dir=folder / "export", quant=config.export.quant, verify_tokens=config.export.verify_tokens
    )
    return Round(number=number, compose=fresh, judged=judged, answers=answers, dataset=data, train=trained, export=made)


def _seed(config: PipelineConfig, number: int) -> int:
    return config.compose.seed + 1000 * number


def _prompts(dags: list[dagsynth.ComposedDag], path: Path, seed: int) -> tuple[Path, dict[str, str]]:
    """One request per composed file (its terse or its conversational one, drawn), in dageval's prompt rows, and
    each file's request by id; the same rows for the same files, so that an unchanged round's judgement is found."""
    rows = []
    for dag in dags:
        rng = random.Random(f"{seed}:{dag.id}")
        rows.append(
            {
                "id": dag.id,
                "request": dag.requests[rng.randrange(len(dag.requests))],
                "airflow_version": str(dag.airflow_version),
                "expect": dag.expect.model_dump(exclude_defaults=True),
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path, {str(r["id"]): str(r["request"]) for r in rows}


def _answers(
    judged: dageval.JudgedModel, by_id: dict[str, dagsynth.ComposedDag], asked: dict[str, str]
) -> list[dagsynth.Answer]:
    out = []
    for verdict in judged.read_verdicts():
        dag = by_id[verdict.prompt_id]
        said = stages.composed_verdict(verdict, dageval.Level.INTENT)
        out.append(dagsynth.Answer(dag=dag, request=asked[dag.id], code=verdict.code, verdict=said))
    return out
