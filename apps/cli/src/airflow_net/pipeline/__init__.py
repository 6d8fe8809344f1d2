"""`airflow-net pipeline`: mine -> instruct -> compose -> base -> dataset -> train -> export -> refine -> eval ->
report."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from airflow_net._ui import console
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import PipelineConfig, load_pipeline_config
from airflow_net.pipeline.refine import refine
from airflow_net.pipeline.report import Inputs, PipelineReport, write_pipeline_report
from airflow_net.pipeline.runner import Runner
from dagcore.cli import one_line_errors

__all__ = ["STAGES", "PipelineConfig", "load_pipeline_config", "pipeline", "run_pipeline"]

STAGES = ["mine", "instruct", "compose", "base", "dataset", "train", "export", "refine", "eval", "report"]


def _run(config: PipelineConfig, run: Runner) -> PipelineReport:
    """Each stage gets the typed results of the stages it reads; `run` stops after `until`."""
    mined = run("mine", partial(stages.mine, config))
    instructed = run("instruct", partial(stages.instruct, config, mined))
    composed = run("compose", partial(stages.compose, config))
    models = run("base", partial(stages.base, config))
    data = run("dataset", partial(stages.dataset, config, mined, instructed, composed, models))
    trained = run("train", partial(stages.train, config, data, models))
    exported = run("export", partial(stages.export, config, trained))
    refined = run("refine", partial(refine, config, mined, instructed, composed, models, exported))
    judged = run("eval", partial(stages.evaluate, config, data, models, refined.export))
    inputs = Inputs(
        mine=mined,
        instruct=instructed,
        compose=composed,
        base=models,
        dataset=data,
        train=trained,
        export=exported,
        refine=refined,
        eval=judged,
    )
    return run("report", lambda folder, report: write_pipeline_report(config, inputs, run.times, folder))


def run_pipeline(config: PipelineConfig, *, until: str | None = None) -> Runner:
    """Run (or find current) each stage up to `until`; the runner holds each stage's result and status."""
    if until is not None and until not in STAGES:
        raise typer.BadParameter(f"--until must be one of {', '.join(STAGES)}")
    names = STAGES[: STAGES.index(until) + 1] if until is not None else STAGES
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "pipeline.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    with Runner(config.out, names, until=until) as runner:
        _run(config, runner)
    return runner


@one_line_errors
def pipeline(
    config: Annotated[Path, typer.Option("--config", "-c", help="Pipeline YAML, e.g. configs/laptop.yaml.")],
    until: Annotated[str | None, typer.Option(help="Stop after this stage.")] = None,
    out: Annotated[Path | None, typer.Option(help="Override the config's output folder.")] = None,
) -> None:
    """Run the whole research: each stage in its own folder, unchanged stages skipped, a killed run resumed."""
    settings = load_pipeline_config(config)
    if out is not None:
        settings = settings.model_copy(update={"out": out})
    report = run_pipeline(settings, until=until).results.get("report")
    if isinstance(report, PipelineReport):
        console.print(f"report: {report.page}")
