"""The library entry points: `mine()` for records in memory, `mine_to_dir()` for a stage's output folder."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel

from dagmine._mine import Miner, MineResult, Progress
from dagmine._output import (
    DAGS_FILE,
    EXCLUDED_FILE,
    MANIFEST_FILE,
    Manifest,
    SourceInfo,
    atomic_write_lines,
    fingerprint,
    is_current,
    now,
    prepare,
)
from dagmine.models import DagRecord, MineConfig, MineStats
from dagmine.sources import Source


def _version() -> str:
    return importlib.metadata.version("dagmine")


def mine(
    source: Source,
    refs: Sequence[str] | None = None,
    *,
    tag_pattern: str | None = None,
    config: MineConfig | None = None,
) -> Iterator[DagRecord]:
    """Every DAG file of `source`, cleaned, one record per distinct cleaned program, oldest first.

    `refs` picks git refs (tags, branches, shas) or distribution refs (`name==version`); without it a
    git source takes every tag that matches `tag_pattern` (default: final release tags).
    """
    yield from Miner(source, refs=refs, tag_pattern=tag_pattern, config=config).run().records


class MineSummary(BaseModel):
    """What `mine_to_dir` did."""

    out_dir: Path
    skipped: bool
    """True when the folder already held this exact run: nothing was mined or written."""
    stats: MineStats
    manifest: Manifest


def mine_to_dir(
    source: Source,
    out_dir: str | Path,
    refs: Sequence[str] | None = None,
    *,
    tag_pattern: str | None = None,
    config: MineConfig | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> MineSummary:
    """Mine into `out_dir`: `dags.jsonl`, `excluded.jsonl`, then `manifest.json`, each written atomically."""
    out = Path(out_dir)
    config = config or MineConfig()
    miner = Miner(source, refs=refs, tag_pattern=tag_pattern, config=config, progress=progress)
    version = _version()
    expected = fingerprint(source.kind, miner.refs, config, version)
    if not force and (current := is_current(out, expected)) is not None:
        return MineSummary(out_dir=out, skipped=True, stats=current.stats, manifest=current)
    prepare(out)
    result: MineResult = miner.run()
    outputs = {
        DAGS_FILE: atomic_write_lines(out / DAGS_FILE, (r.model_dump_json() for r in result.records)),
        EXCLUDED_FILE: atomic_write_lines(out / EXCLUDED_FILE, (x.model_dump_json() for x in result.exclusions)),
    }
    manifest = Manifest(
        version=version,
        source=SourceInfo(kind=source.kind, location=source.location),
        refs=result.refs,
        config=config,
        fingerprint=expected,
        stats=result.stats,
        outputs=outputs,
        created_at=now(),
    )
    atomic_write_lines(out / MANIFEST_FILE, [manifest.model_dump_json(indent=2)])
    return MineSummary(out_dir=out, skipped=False, stats=result.stats, manifest=manifest)


def read_records(path: str | Path) -> Iterator[DagRecord]:
    """Records from a `dags.jsonl` file (or the folder holding it)."""
    file = Path(path)
    if file.is_dir():
        file = file / DAGS_FILE
    with file.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield DagRecord.model_validate_json(line)
