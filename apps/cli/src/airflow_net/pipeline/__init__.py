"""`airflow-net pipeline`: mine -> instruct -> base -> dataset -> train -> export -> eval -> report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from airflow_net._ui import console
from airflow_net.pipeline.config import PipelineConfig, load_pipeline_config
from airflow_net.pipeline.runner import Runner
from airflow_net.pipeline.stages import build_stages
from dagcore.cli import one_line_errors

__all__ = ["PipelineConfig", "load_pipeline_config", "pipeline", "run_pipeline"]


def run_pipeline(config: PipelineConfig, *, until: str | None = None) -> Runner:
    """Run (or skip) each stage up to `until`; the runner holds each stage's record and status."""
    stages = build_stages(config)
    names = [s.name for s in stages]
    if until is not None and until not in names:
        raise typer.BadParameter(f"--until must be one of {', '.join(names)}")
    if until is not None:
        stages = stages[: names.index(until) + 1]
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "pipeline.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    runner = Runner(config.out, stages)
    runner.run()
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
    report = run_pipeline(settings, until=until).records.get("report")
    if report is not None:
        console.print(f"report: {report.summary.get('report')}")
