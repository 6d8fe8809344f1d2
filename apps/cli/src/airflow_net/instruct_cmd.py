"""`airflow-net instruct`: a user's request for every mined DAG (run / status / cancel)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import daginstruct
from airflow_net._ui import StageBars, console, progress_bars, summary_table
from dagcore.cli import one_line_errors

app = typer.Typer(help="Write the natural-language request behind each DAG.", no_args_is_help=True)

_ALL_STYLES = ",".join(daginstruct.STYLES)
_STAGES = {"submit": "submitting batches", "collect": "collecting results", "generate": "writing requests"}


def _config(
    backend: str,
    model: str | None,
    styles: str,
    per_dag: int,
    base_url: str | None,
    concurrency: int,
    max_attempts: int,
    poll_interval: float,
    retry_budget: float,
) -> daginstruct.InstructConfig:
    return daginstruct.InstructConfig.model_validate(
        {
            "backend": backend,
            "model": model,
            "styles": [s.strip() for s in styles.split(",") if s.strip()],
            "per_dag": per_dag,
            "base_url": base_url,
            "concurrency": concurrency,
            "max_attempts": max_attempts,
            "poll_interval": poll_interval,
            "retry_budget": retry_budget,
        }
    )


def _estimate_table(estimate: daginstruct.CostEstimate) -> Table:
    table = Table(title=f"estimate: {estimate.model}" + (" (batch, 50% off)" if estimate.batch else ""))
    table.add_column("requests", justify="right")
    table.add_column("input tokens", justify="right")
    table.add_column("output tokens (expected / max)", justify="right")
    table.add_column("USD (expected / max)", justify="right")
    table.add_row(
        f"{estimate.requests:,}",
        f"{estimate.input_tokens:,}",
        f"{estimate.expected_output_tokens:,} / {estimate.max_output_tokens:,}",
        f"${estimate.expected_usd:.2f} / ${estimate.max_usd:.2f}",
    )
    return table


BackendOpt = Annotated[str, typer.Option(help="auto, anthropic-batch, anthropic, openai or template.")]
ModelOpt = Annotated[str | None, typer.Option(help="Model name (default claude-haiku-4-5 for Anthropic).")]
StylesOpt = Annotated[str, typer.Option(help="Comma-separated styles: terse, detailed, business.")]
PerDagOpt = Annotated[int, typer.Option(help="Requests per DAG (styles rotate by DAG id).")]
RunDirArg = Annotated[Path, typer.Argument(help="The output folder of `instruct run`.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint, or another Anthropic address.")]


@app.command("run")
@one_line_errors
def run(
    dags: Annotated[Path, typer.Argument(help="dags.jsonl from `airflow-net mine` (or its folder).")] = Path(
        "out/mine"
    ),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/instruct"),
    backend: BackendOpt = "auto",
    model: ModelOpt = None,
    styles: StylesOpt = _ALL_STYLES,
    per_dag: PerDagOpt = 3,
    base_url: BaseUrlOpt = None,
    concurrency: Annotated[int, typer.Option(help="Parallel requests (request-at-a-time backends).")] = 4,
    max_attempts: Annotated[int, typer.Option(help="Attempts per request, rejects and errors included.")] = 3,
    poll_interval: Annotated[float, typer.Option(help="Seconds between batch polls (grows 1.5x to 5 min).")] = 30.0,
    retry_budget: Annotated[
        float, typer.Option(help="Seconds to back off through an API outage (529 overloaded...) before stopping.")
    ] = 900.0,
    dry_run: Annotated[bool, typer.Option(help="Show tokens and cost; send nothing.")] = False,
) -> None:
    """Submit, wait and collect in one command; run it again after any interruption to resume."""
    config = _config(backend, model, styles, per_dag, base_url, concurrency, max_attempts, poll_interval, retry_budget)
    records = daginstruct.read_dags(dags)
    if dry_run:
        if config.backend == "openai" or (config.backend == "template"):
            console.print(f"{len(records)} DAGs; the {config.backend} backend has no price table: nothing to estimate")
            return
        console.print(_estimate_table(daginstruct.estimate_cost(records, config)))
        return
    with progress_bars() as progress:
        summary = daginstruct.instruct(records, out, config, progress=StageBars(progress, _STAGES))
    rows: list[tuple[str, object]] = [
        ("backend / model", f"{summary.backend} / {summary.model}"),
        ("requested", summary.requested),
        ("written", summary.written),
        ("failed (attempts used up)", summary.failed),
        *((f"rejected: {reason}", count) for reason, count in summary.rejects.items()),
        ("tokens in / out", f"{summary.usage.input_tokens:,} / {summary.usage.output_tokens:,}"),
    ]
    if summary.cost_usd is not None:
        rows.append(("cost", f"${summary.cost_usd:.4f}"))
    console.print(summary_table("daginstruct", rows, skipped=summary.skipped))
    console.print(f"instructions: {out / 'instructions.jsonl'}")


def _batch_backend(out: Path, model: str | None, base_url: str | None) -> daginstruct.AnthropicBatchBackend:
    config = daginstruct.InstructConfig(backend="anthropic-batch", model=model, base_url=base_url)
    model_name = model or daginstruct.DEFAULT_ANTHROPIC_MODEL
    work = out / ".work" / f"anthropic-batch-{model_name}"
    if not work.is_dir():
        raise daginstruct.InputError(f"no batch run in {out} for {model_name}: start one with `instruct run`")
    backend = daginstruct.make_backend(config, [], work)
    assert isinstance(backend, daginstruct.AnthropicBatchBackend)
    return backend


@app.command("status")
@one_line_errors
def status(
    out: RunDirArg = Path("out/instruct"),
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Batches of a run and where each stands, locally and on the server."""
    table = Table(title="batches")
    for column in ("batch", "requests", "local", "server", "counts"):
        table.add_column(column)
    for row in _batch_backend(out, model, base_url).status():
        counts = row.get("counts") or {}
        table.add_row(
            row["batch"],
            str(row["requests"]),
            row["local"],
            row.get("server", ""),
            ", ".join(f"{k}={v}" for k, v in counts.items() if v),
        )
    console.print(table)


@app.command("cancel")
@one_line_errors
def cancel(
    out: RunDirArg = Path("out/instruct"),
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Cancel the run's batches in progress; `instruct run` then collects what they finished."""
    cancelled = _batch_backend(out, model, base_url).cancel()
    console.print(f"cancel requested for {len(cancelled)} batch(es): {', '.join(cancelled) or '-'}")
