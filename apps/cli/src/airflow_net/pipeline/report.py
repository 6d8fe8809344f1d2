"""The pipeline's report: data counts, the training curve, base vs tuned per level with 95% CIs.

It is written from the stages' typed results. Like every stage it has a manifest: the identities of the stage
folders it reports on, so an unchanged pipeline leaves it as it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

import dagdata
import dageval
import daginstruct
import dagmine
import dagtune
from airflow_net.pipeline.config import PipelineConfig
from airflow_net.pipeline.runner import StageTime
from airflow_net.pipeline.stages import BaseModels
from dagcore import finished, stamp, write_manifest
from dageval.report import html_page


class PipelineReport(BaseModel):
    page: Path
    """report.html (report.md and plots/ beside it)."""
    skipped: bool = False


class Inputs(BaseModel):
    """What the report is written from: each stage's result."""

    mine: dagmine.MineSummary
    instruct: daginstruct.InstructSummary
    base: BaseModels
    dataset: dagdata.DatasetSummary
    train: dagtune.TrainResult
    export: dagtune.ExportResult
    eval: dageval.Experiment


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def headline(comparisons: list[dageval.Comparison]) -> list[str]:
    """The base-vs-tuned table, as Markdown lines (also written to README.md)."""
    lines = [
        "| level | base | tuned | difference (tuned - base) | 95% CI | McNemar p |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in comparisons:
        lines.append(
            f"| {row.level} | {_pct(row.base_rate)} | {_pct(row.tuned_rate)} | {100 * row.difference:+.1f} pts | "
            f"[{100 * row.ci_low:+.1f}, {100 * row.ci_high:+.1f}] | {row.mcnemar_p:.3g} |"
        )
    return lines


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
    ]
    lines += [f"| dataset filter: {key} | {value} |" for key, value in dataset.filters.model_dump().items()]
    return [*lines, f"| train conversations | {dataset.train} |", f"| test conversations | {dataset.test} |", ""]


def _training(inputs: Inputs, plots: Path) -> list[str]:
    train = inputs.train
    lines = [
        "## Training",
        "",
        f"Base model {Path(inputs.base.hf.source).name}, backend {train.backend}, {train.steps} steps: "
        f"train loss {_num(train.first_loss)} -> {_num(train.last_loss)}, eval loss {_num(train.eval_loss)}.",
        "",
    ]
    if train.loss_plot is not None and train.loss_plot.is_file():
        shutil.copyfile(train.loss_plot, plots / "loss.png")
        lines += ["![training loss](plots/loss.png)", ""]
    return lines


def _evaluation(config: PipelineConfig, experiment: dageval.Experiment, plots: Path) -> list[str]:
    lines = [
        "## Base vs tuned",
        "",
        f"{experiment.base.prompts} held-out prompts, {experiment.base.samples_per_prompt} sample(s) each; "
        f"both models quantised alike ({config.base.quant} / {config.export.quant}), prompted by the same contract "
        "and served by dagserve; validity per level as judged by dageval (the import level loads each file in a "
        "real Airflow of the version its prompt asks for). Differences are paired by prompt; the CI is a paired "
        "bootstrap.",
        "",
        *headline(experiment.comparisons),
        "",
    ]
    for plot in (experiment.folder / "plots").glob("*.png"):
        shutil.copyfile(plot, plots / f"eval-{plot.name}")
    if (plots / "eval-comparison.png").is_file():
        lines += ["![base vs tuned](plots/eval-comparison.png)", ""]
    base, tuned = experiment.base.categories, experiment.tuned.categories
    names = sorted(set(base) | set(tuned), key=lambda n: -base.get(n, 0))
    lines += ["## Why samples failed", "", "| category | base | tuned |", "|---|---:|---:|"]
    lines += [f"| {n} | {base.get(n, 0)} | {tuned.get(n, 0)} |" for n in names]
    return [*lines, ""]


def write_pipeline_report(
    config: PipelineConfig, inputs: Inputs, times: dict[str, StageTime], folder: Path
) -> PipelineReport:
    """report.md, report.html and plots/ in `folder`, copied to `config.results` when set."""
    stages = {name: getattr(inputs, name) for name in Inputs.model_fields}
    folders = {"mine": inputs.mine.out_dir, "instruct": inputs.instruct.out_dir, "base": inputs.base.gguf.gguf.parent}
    folders |= {"dataset": inputs.dataset.out_dir, "train": inputs.train.run_dir, "export": inputs.export.gguf.parent}
    folders |= {"eval": inputs.eval.folder}
    settings = {"name": config.name, "results": str(config.results), "quants": [config.base.quant, config.export.quant]}
    expected = stamp("report", "airflow-net", folders, settings)
    page = folder / "report.html"
    copied = config.results is None or (config.results / "report.html").is_file()
    if finished(folder, expected) is not None and page.is_file() and copied:
        return PipelineReport(page=page, skipped=True)
    plots = folder / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [f"# airflow-net pipeline: {config.name}", "", *_data(inputs), *_training(inputs, plots)]
    lines += _evaluation(config, inputs.eval, plots)
    lines += ["## Time", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {times[name].seconds:,.0f} |" for name in stages if name in times]
    md = "\n".join([*lines, ""])
    (folder / "report.md").write_text(md, encoding="utf-8")
    page.write_text(html_page(md, f"airflow-net pipeline: {config.name}"), encoding="utf-8")
    if config.results is not None:
        shutil.copytree(folder, config.results, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*manifest.json*"))
    write_manifest(folder, expected.model_copy(update={"complete": True}))
    return PipelineReport(page=page)
