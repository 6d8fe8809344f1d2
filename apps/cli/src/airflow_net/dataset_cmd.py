"""`airflow-net dataset`: mined DAGs + requests -> a filtered, leak-free ChatML dataset with a card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import dagdata
from airflow_net._ui import console, summary_table
from dagcore.cli import one_line_errors

_DEFAULTS = dagdata.DatasetConfig()


@one_line_errors
def dataset(
    dags: Annotated[Path, typer.Argument(help="dags.jsonl from `airflow-net mine`, or its folder.")] = Path("out/mine"),
    instructions: Annotated[
        Path, typer.Argument(help="instructions.jsonl from `airflow-net instruct run` (or its folder).")
    ] = Path("out/instruct"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/dataset"),
    tokenizer: Annotated[str, typer.Option(help="Target model's tokenizer: a folder or a cached hub id.")] = (
        _DEFAULTS.tokenizer
    ),
    max_tokens: Annotated[int, typer.Option(help="Longest conversation kept (longer ones: dropped).")] = (
        _DEFAULTS.max_tokens
    ),
    near_dup_threshold: Annotated[float, typer.Option(help="MinHash Jaccard for near duplicates.")] = (
        _DEFAULTS.near_dup_threshold
    ),
    near_dup_policy: Annotated[str, typer.Option(help="keep_newest or group.")] = _DEFAULTS.near_dup_policy,
    test_fraction: Annotated[float, typer.Option(help="Share of conversations in test.")] = _DEFAULTS.test_fraction,
    seed: Annotated[int, typer.Option(help="Split seed.")] = _DEFAULTS.seed,
    replay: Annotated[Path | None, typer.Option(help="JSONL of general conversations to mix into train.")] = None,
    replay_ratio: Annotated[float, typer.Option(help="Replay rows per train row.")] = 0.0,
    force: Annotated[bool, typer.Option(help="Rebuild even if the inputs are unchanged.")] = False,
) -> None:
    """Join, filter, deduplicate and split; write a DatasetDict, JSONL, a dataset card and plots."""
    config = dagdata.DatasetConfig.model_validate(
        {
            "tokenizer": tokenizer,
            "max_tokens": max_tokens,
            "near_dup_threshold": near_dup_threshold,
            "near_dup_policy": near_dup_policy,
            "test_fraction": test_fraction,
            "seed": seed,
            "replay_ratio": replay_ratio,
        }
    )
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("building the dataset", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{stage}: {done:,}/{total:,}")

        summary = dagdata.build_dataset(
            dags, instructions, out, config, replay_path=replay, force=force, progress=progress
        )
    filters = summary.filters
    rows: list[tuple[str, object]] = [
        ("joined", filters.joined),
        ("requests for unknown DAGs", filters.missing_dag),
        ("dropped: test internals", filters.test_internals),
        ("dropped: exact duplicates", filters.exact_duplicates),
        ("dropped: near duplicates", filters.near_duplicates),
        (f"dropped: over {config.max_tokens} tokens", filters.too_long),
        ("train", summary.train),
        ("  of which replay", summary.replay),
        ("test", summary.test),
        ("longest (tokens)", summary.longest),
        ("largest train/test similarity", f"{summary.max_cross_split_similarity:.2f}"),
    ]
    console.print(summary_table("dagdata", rows, skipped=summary.skipped))
    console.print(f"dataset: {out / 'hf'}  card: {out / 'README.md'}")
