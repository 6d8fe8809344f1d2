"""`airflow-net mine`: DAG files from git history, distributions or folders, into `dags.jsonl`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import dagmine
from airflow_net._ui import StageBars, console, progress_bars, summary_table
from dagcore.cli import one_line_errors

_STAGES = {"list": "listing refs", "read": "reading files", "parse": "parsing and cleaning"}


def build_source(
    paths: list[Path],
    pypi: list[str],
    cache: Path,
    kind: str | None = None,
    label: str | None = None,
    airflow_version: str | None = None,
    sdist: bool = False,
) -> dagmine.Source:
    """The dagmine source that paths (a git repo, wheels/sdists, a folder) or PyPI requirements name."""
    if pypi:
        fetched = dagmine.fetch_distributions(pypi, cache, sdist=sdist)
        return dagmine.DistributionSource(*fetched, *paths)
    if not paths:
        raise dagmine.SourceError("give a SOURCE (a git repository, wheels or sdists, a folder) or --pypi REQUIREMENT")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise dagmine.SourceError(f"{', '.join(missing)} does not exist")
    if kind is None:
        kind = _guess_kind(paths)
    if kind == "git":
        if len(paths) != 1:
            raise dagmine.SourceError("mine one git repository at a time")
        return dagmine.GitSource(paths[0])
    if kind == "dist":
        return dagmine.DistributionSource(*paths)
    if len(paths) != 1:
        raise dagmine.SourceError("mine one folder at a time")
    return dagmine.FolderSource(paths[0], label=label, airflow_version=airflow_version)


def _guess_kind(paths: list[Path]) -> str:
    first = paths[0]
    if first.is_file() or len(paths) > 1:
        return "dist"
    if (first / ".git").exists() or ((first / "HEAD").is_file() and (first / "objects").is_dir()):
        return "git"
    if first.is_dir() and any(p.name.endswith((".whl", ".tar.gz")) for p in first.iterdir()):
        return "dist"
    return "folder"


def _summary(summary: dagmine.MineSummary, per_ref: int) -> None:
    stats = summary.stats
    table = summary_table(
        "dagmine",
        [
            ("refs", stats.refs),
            ("python files (ref, path)", stats.files),
            ("distinct files", stats.distinct_blobs),
            ("DAG files", stats.dag_files),
            ("kept", stats.kept_blobs),
            ("records (distinct cleaned DAGs)", stats.records),
            *((f"excluded: {reason}", count) for reason, count in stats.excluded.items()),
        ],
        skipped=summary.skipped,
    )
    console.print(table)
    if per_ref and stats.per_ref:
        refs = Table(title=f"per ref (last {min(per_ref, len(stats.per_ref))})")
        for column in ("ref", "files", "kept", "excluded"):
            refs.add_column(column, justify="left" if column in ("ref", "excluded") else "right")
        for name, ref in list(stats.per_ref.items())[-per_ref:]:
            excluded = ", ".join(f"{k}={v}" for k, v in sorted(ref.excluded.items()) if k != "not_dag")
            refs.add_row(name, f"{ref.files:,}", f"{ref.kept:,}", excluded)
        console.print(refs)
    console.print(f"records: {summary.out_dir / 'dags.jsonl'}")


@one_line_errors
def mine(
    sources: Annotated[
        list[Path] | None, typer.Argument(help="Git repository, wheel/sdist files, or a folder.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/mine"),
    pypi: Annotated[
        list[str] | None, typer.Option("--pypi", help="Fetch a distribution from PyPI, e.g. apache-airflow==2.10.5.")
    ] = None,
    sdist: Annotated[bool, typer.Option(help="With --pypi, take sdists (they hold tests/system).")] = False,
    cache: Annotated[Path, typer.Option(help="Where --pypi keeps downloaded files.")] = Path("out/dists"),
    kind: Annotated[str | None, typer.Option(help="git, dist or folder (guessed when left out).")] = None,
    refs: Annotated[list[str] | None, typer.Option("--ref", help="Mine this ref (repeatable).")] = None,
    tags: Annotated[str | None, typer.Option(help="Regex of tags to mine (default: final release tags).")] = None,
    label: Annotated[str | None, typer.Option(help="Ref name of a folder source.")] = None,
    airflow_version: Annotated[str | None, typer.Option(help="Airflow version of a folder source.")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).")] = 0,
    max_bytes: Annotated[int, typer.Option(help="Skip files larger than this.")] = 1_000_000,
    clean: Annotated[bool, typer.Option(help="Strip licence headers, doc markers and the test harness.")] = True,
    recover: Annotated[bool, typer.Option(help="Replace test constants by os.environ.get(...) defaults.")] = True,
    force: Annotated[bool, typer.Option(help="Mine again even if the output is up to date.")] = False,
    per_ref: Annotated[int, typer.Option(help="Show counts for the last N refs.")] = 10,
) -> None:
    """Find every Airflow DAG file in a source, clean it, and tag it with its Airflow versions."""
    if kind not in (None, "git", "dist", "folder"):
        raise dagmine.SourceError(f"--kind must be git, dist or folder, not {kind!r}")
    source = build_source(sources or [], pypi or [], cache, kind, label, airflow_version, sdist)
    config = dagmine.MineConfig(max_bytes=max_bytes, clean=clean, recover=recover, jobs=jobs)
    with progress_bars() as progress:
        summary = dagmine.mine_to_dir(
            source,
            out,
            refs or None,
            tag_pattern=tags,
            config=config,
            force=force,
            progress=StageBars(progress, _STAGES),
        )
    _summary(summary, per_ref)


__all__ = ["build_source", "mine"]
