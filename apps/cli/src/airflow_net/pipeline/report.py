"""The pipeline's report: the headline, data counts, the training curve, and for each prompt set base vs tuned per
level with 95% CIs, after repairs and per tag.

It is written from the stages' typed results. Like every stage it has a manifest: the identities of the stage
folders it reports on, so an unchanged pipeline leaves it as it is. With `readme` set it also rewrites that
README's results block with the headline.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import dagdata
import dageval
import daginstruct
import dagmine
import dagsynth
import dagtune
from airflow_net.pipeline import readme
from airflow_net.pipeline.config import PipelineConfig
from airflow_net.pipeline.headline import comparison_table, describe, grammar_words, headline, retry_words
from airflow_net.pipeline.refine import Refined
from airflow_net.pipeline.runner import StageTime
from airflow_net.pipeline.stages import BaseModels, Evaluation
from dagcore import Retry, finished, stamp, write_manifest
from dageval.report import html_page, repair_lines, tag_lines


class PipelineReport(BaseModel):
    page: Path
    """report.html (report.md and plots/ beside it)."""
    skipped: bool = False


class Inputs(BaseModel):
    """What the report is written from: each stage's result."""

    mine: dagmine.MineSummary
    instruct: daginstruct.InstructSummary
    compose: dagsynth.ComposeSummary
    base: BaseModels
    dataset: dagdata.DatasetSummary
    train: dagtune.TrainResult
    export: dagtune.ExportResult
    refine: Refined
    eval: Evaluation


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _about(config: PipelineConfig, inputs: Inputs, times: dict[str, StageTime]) -> str:
    """The run in a sentence: when the models were judged, which model, on what data."""
    judged = times.get("eval")  # the time the eval stage last did work: a skipped rerun keeps its date
    day = datetime.fromtimestamp(judged.finished_at, UTC) if judged else datetime.now(UTC)
    train, dataset = inputs.train, inputs.dataset
    decoded = grammar_words(config.eval.sampling).removeprefix("the ")
    text = (
        f"Pipeline `{config.name}`, judged on {day:%Y-%m-%d}: {Path(inputs.base.hf.source).name} fine-tuned ("
        f"{_method(config)}) for {train.steps} steps (train loss {_num(train.first_loss)} -> "
        f"{_num(train.last_loss)}) on "
        f"{dataset.train} conversations from {inputs.mine.stats.records} mined DAGs and {inputs.compose.kept} composed "
        f"ones{_rounds(inputs.refine)}; base and tuned as "
        f"{config.base.quant} / {config.export.quant} GGUFs, {config.eval.max_tokens} tokens per answer"
        f"{', decoded under the Python ' + decoded if config.eval.grammar else ''}."
    )
    if config.results is not None and config.readme is not None:
        link = Path(os.path.relpath(config.results / "report.md", config.readme.parent)).as_posix()
        text += f" Full report: [{link}]({link})."
    return text


def _rounds(refined: Refined) -> str:
    n = len(refined.rounds)
    return f", then {n} round{'s' if n > 1 else ''} of the verifier as teacher" if n else ""


def _method(config: PipelineConfig) -> str:
    return "full fine-tuning" if config.train.settings.get("finetune") == "full" else "LoRA"


def _data(inputs: Inputs) -> list[str]:
    stats, instruct, dataset = inputs.mine.stats, inputs.instruct, inputs.dataset
    excluded = ", ".join(f"{k}={v}" for k, v in stats.excluded.items() if str(k) != "not_dag") or "none"
    lines = [
        "## Data",
        "",
        "| stage | count |",
        "|---|---:|",
        f"| DAG records mined ({stats.refs} refs; excluded: {excluded}) | {stats.records} |",
        f"| requests written ({instruct.backend}, {instruct.model}) | {instruct.written} |",
        *_composed(inputs.compose),
    ]
    lines += [f"| dataset filter: {key} | {value} |" for key, value in dataset.filters.model_dump().items()]
    return [*lines, f"| train conversations | {dataset.train} |", f"| test conversations | {dataset.test} |", ""]


def _composed(composed: dagsynth.ComposeSummary) -> list[str]:
    if not composed.composed:
        return []
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(composed.rejected.items())) or "none"
    versions = ", ".join(f"{k}: {v}" for k, v in sorted(composed.by_version.items()))
    return [
        f"| DAG files composed (dagsynth) | {composed.composed} |",
        f"| composed files kept: loaded and matched their request in a real Airflow ({versions}) | {composed.kept} |",
        f"| composed files dropped ({rejected}) | {composed.composed - composed.kept} |",
        f"| version twins kept: one request, a file for Airflow 2 and one for Airflow 3 | {composed.twins} |",
    ]


def _training(inputs: Inputs, plots: Path) -> list[str]:
    train = inputs.train
    lines = [
        "## Training",
        "",
        f"Base model {Path(inputs.base.hf.source).name}, backend {train.backend}"
        f"{f' ({train.precision})' if train.precision else ''}, {train.steps} steps: "
        f"train loss {_num(train.first_loss)} -> {_num(train.last_loss)}, eval loss {_num(train.eval_loss)}."
        + (
            f" In training the LM head scored {train.head_vocab:,} tokens (`head_vocab: seen`): the train loss is "
            "over those, the eval loss over the whole vocabulary."
            if train.head_vocab
            else ""
        ),
        "",
    ]
    if train.loss_plot is not None and train.loss_plot.is_file():
        shutil.copyfile(train.loss_plot, plots / "loss.png")
        lines += ["![training loss](plots/loss.png)", ""]
    return lines


def _refined(refined: Refined) -> list[str]:
    if not refined.rounds:
        return []
    lines = [
        "## Verifier as teacher",
        "",
        "Each round: fresh composed requests (verified files the model never trained on) answered by the current "
        "model, each answer judged in a real Airflow of the requested version; answers that load and match their "
        "request are trained on as written, failed requests with their composed file (and, for a syntax, structure "
        "or import failure, a repair lesson), beside the mined files.",
        "",
        "| round | requests | answers load | load and match | kept | references | lessons | train | steps | loss |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in refined.rounds:
        rate = {lv.level: lv.rate for lv in r.judged.summary.levels}
        lines.append(
            f"| {r.number} | {r.judged.prompts} | {rate.get('import', 0):.1%} | {rate.get('intent', 0):.1%} "
            f"| {r.answers.kept} | {r.answers.references} | {r.answers.lessons} | {r.dataset.train} | {r.train.steps} "
            f"| {_num(r.train.first_loss)} -> {_num(r.train.last_loss)} |"
        )
    return [*lines, ""]


def _evaluation(config: PipelineConfig, evaluation: Evaluation, plots: Path) -> list[str]:
    lines = [
        "## Base vs tuned",
        "",
        f"Both models quantised alike ({config.base.quant} / {config.export.quant}), prompted by the same contract "
        "and served by dagserve; validity per level as judged by dageval (import loads each file in a real Airflow "
        "of the version its prompt asks for; intent checks that the loaded DAG shows what the request asked for). "
        "Differences are paired by prompt; the CI is a paired bootstrap. After repairs: the answer each model had "
        "after up to N rounds of the generate-validate-repair loop of `airflow-net generate` (each retry: "
        f"{retry_words(config.eval.retry, config.eval.sampling)}).",
        "",
    ]
    for title, experiment in evaluation.sets().items():
        lines += _prompt_set(title, experiment, plots, config.eval.retry, config.eval.sampling)
    return lines


def _prompt_set(
    title: str, experiment: dageval.Experiment, plots: Path, retry: Retry, extra: dict[str, Any]
) -> list[str]:
    name = experiment.folder.name
    lines = [
        f"## {title}",
        "",
        describe(experiment, retry, extra),
        "",
        *comparison_table(experiment, retry),
        "",
    ]
    for plot in (experiment.folder / "plots").glob("*.png"):
        shutil.copyfile(plot, plots / f"{name}-{plot.name}")
    if (plots / f"{name}-comparison.png").is_file():
        lines += [f"![base vs tuned, {title.lower()}](plots/{name}-comparison.png)", ""]
    for judged in (experiment.base, experiment.tuned):
        if judged.repairs:
            lines += [f"Validity after repairs, {judged.name}:", "", *repair_lines(judged.repairs), ""]
    if experiment.tags:
        lines += [f"Per tag, at {experiment.comparisons[-1].level}:", "", *tag_lines(experiment.tags), ""]
    base, tuned = experiment.base.categories, experiment.tuned.categories
    names = sorted(set(base) | set(tuned), key=lambda n: -base.get(n, 0))
    lines += ["Why samples failed:", "", "| category | base | tuned |", "|---|---:|---:|"]
    lines += [f"| {n} | {base.get(n, 0)} | {tuned.get(n, 0)} |" for n in names]
    return [*lines, ""]


def write_pipeline_report(
    config: PipelineConfig, inputs: Inputs, times: dict[str, StageTime], folder: Path
) -> PipelineReport:
    """report.md, report.html and plots/ in `folder`, copied to `config.results` when set; the headline into
    `config.readme`'s results block when set."""
    stages = {name: getattr(inputs, name) for name in Inputs.model_fields}
    folders = {"mine": inputs.mine.out_dir, "instruct": inputs.instruct.out_dir, "base": inputs.base.gguf.gguf.parent}
    folders |= {"dataset": inputs.dataset.out_dir, "train": inputs.train.run_dir, "export": inputs.export.gguf.parent}
    folders |= {f"refine/round-{r.number}": r.export.gguf.parent for r in inputs.refine.rounds}
    folders |= {f"eval/{e.folder.name}": e.folder for e in inputs.eval.sets().values()}
    settings = {"name": config.name, "results": str(config.results), "readme": str(config.readme)}
    expected = stamp("report", "airflow-net", folders, settings | {"quants": [config.base.quant, config.export.quant]})
    page = folder / "report.html"
    about = _about(config, inputs, times)
    top = headline(inputs.eval, about, config.eval.retry, config.eval.sampling)
    copied = config.results is None or (config.results / "report.html").is_file()
    written = config.readme is None or readme.read_block(config.readme, config.name) == "\n".join(top).strip("\n")
    if finished(folder, expected) is not None and page.is_file() and copied and written:
        return PipelineReport(page=page, skipped=True)
    plots = folder / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [f"# airflow-net pipeline: {config.name}", "", about, "", *_data(inputs), *_training(inputs, plots)]
    lines += _refined(inputs.refine)
    lines += _evaluation(config, inputs.eval, plots)
    lines += ["## Time", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {times[name].seconds:,.0f} |" for name in stages if name in times]
    md = "\n".join([*lines, ""])
    (folder / "report.md").write_text(md, encoding="utf-8")
    page.write_text(html_page(md, f"airflow-net pipeline: {config.name}"), encoding="utf-8")
    if config.results is not None:
        shutil.copytree(folder, config.results, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*manifest.json*"))
    if config.readme is not None:
        readme.write_block(config.readme, config.name, "\n".join(top))
    write_manifest(folder, expected.model_copy(update={"complete": True}))
    return PipelineReport(page=page)
