"""Mining benchmark on Airflow's real history: the blob-level miner against a naive per-tag walk.

    uv run python bench/mine_bench.py --repo PATH/TO/airflow.git [--naive-every 5] [--pypi-3x]

The naive walk checks out each tag (its own index and work tree), then reads and parses every Python
file with the same judge as the miner, one file after another: no blob dedupe, no byte prefilter,
no worker processes. It runs on every Nth tag (all 95 take over half an hour); its all-tag time is
extrapolated from its per-tag mean and marked as such. Prints tables and writes bench/results/mine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import dagmine
from dagmine import ExclusionReason, MineConfig, MineStats
from dagmine._analyze import Excluded, Kept, judge

console = Console(width=200)
FOCUS = ["2.7.2", "2.8.4", "2.9.3", "2.10.3"]
WHEELS_3X = ["apache-airflow-core==3.0.6", "apache-airflow-core==3.1.8", "apache-airflow-core==3.2.2"]


def _blob_level(repo: Path, refs: list[str] | None) -> tuple[float, MineStats]:
    start = time.perf_counter()
    result = dagmine.Miner(dagmine.GitSource(repo), refs=refs).run()
    return time.perf_counter() - start, result.stats


def _naive(repo: Path, tags: list[str]) -> tuple[float, MineStats]:
    """Check out each tag, then read and parse every Python file in it, one after the other.

    The same judge (parse, detect, clean, check) as the miner, without what makes the miner fast:
    no blob dedupe across tags, no byte prefilter, no worker processes.
    """
    total = MineStats()
    start = time.perf_counter()
    for tag in tags:
        with tempfile.TemporaryDirectory(prefix="naive-") as tmp:
            # A checkout that leaves the repository alone: its own index, its own work tree.
            env = {**os.environ, "GIT_INDEX_FILE": f"{tmp}/index"}
            git = ["git", f"--git-dir={repo}"]
            subprocess.run([*git, "read-tree", tag], check=True, env=env)
            subprocess.run([*git, "checkout-index", "-a", "-f", f"--prefix={tmp}/work/"], check=True, env=env)
            kept_codes: set[str] = set()
            for path in sorted(Path(tmp, "work").rglob("*.py")):
                if not path.is_file() or path.is_symlink():
                    continue
                total.files += 1
                data = path.read_bytes()
                verdict = _judge_everything(str(path), data)
                if isinstance(verdict, Kept):
                    total.kept_blobs += 1
                    total.dag_files += 1
                    kept_codes.add(verdict.code)
                else:
                    total.excluded[verdict.reason] = total.excluded.get(verdict.reason, 0) + 1
                    if verdict.reason in (ExclusionReason.TEST_INTERNALS, ExclusionReason.CLEAN_ERROR):
                        total.dag_files += 1
            total.records += len(kept_codes)
        total.refs += 1
    return time.perf_counter() - start, total


def _judge_everything(key: str, data: bytes) -> Kept | Excluded:
    if len(data) > MineConfig().max_bytes:
        return Excluded(key, ExclusionReason.TOO_LARGE)
    if b"\0" in data:
        return Excluded(key, ExclusionReason.BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Excluded(key, ExclusionReason.NOT_UTF8)
    return judge(key, text, do_clean=True, recover=True)


def _excluded(stats: MineStats) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in sorted(stats.excluded.items()) if k != ExclusionReason.NOT_DAG)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("/work/.mirror/arenadata+airflow/repo"))
    parser.add_argument("--naive-every", type=int, default=5, help="run the naive walk on every Nth tag")
    parser.add_argument("--pypi-3x", action="store_true", help="also mine Airflow 3.x core wheels from PyPI")
    parser.add_argument("--out", type=Path, default=Path("bench/results/mine.json"))
    args = parser.parse_args()

    source = dagmine.GitSource(args.repo)
    tags = [r.name for r in source.resolve()]
    sample = tags[:: args.naive_every]
    console.print(f"{len(tags)} release tags; naive walk on {len(sample)} of them (every {args.naive_every})")

    blob_all_s, blob_all = _blob_level(args.repo, None)
    blob_sample_s, blob_sample = _blob_level(args.repo, sample)
    naive_s, naive = _naive(args.repo, sample)
    naive_all_s = naive_s / len(sample) * len(tags)

    table = Table(title="dagmine: blob-level miner vs naive per-tag walk (same machine, same run)")
    for column in (
        "method",
        "tags",
        "files seen",
        "distinct blobs",
        "DAG files",
        "kept",
        "records",
        "excluded (besides not_dag)",
        "seconds",
        "ratio",
    ):
        table.add_column(column, justify="left" if column in ("method", "excluded (besides not_dag)") else "right")
    rows = [
        ("naive per-tag walk", naive, naive_s, len(sample), naive_s / blob_sample_s),
        ("blob-level", blob_sample, blob_sample_s, len(sample), 1.0),
        ("naive, all tags (extrapolated)", None, naive_all_s, len(tags), naive_all_s / blob_all_s),
        ("blob-level, all tags", blob_all, blob_all_s, len(tags), 1.0),
    ]
    for name, stats, seconds, n_tags, ratio in rows:
        if stats is None:
            table.add_row(name, str(n_tags), "", "", "", "", "", "", f"{seconds:.1f}", f"{ratio:.1f}x")
            continue
        table.add_row(
            name,
            str(n_tags),
            f"{stats.files:,}",
            f"{stats.distinct_blobs:,}",
            f"{stats.dag_files:,}",
            f"{stats.kept_blobs:,}",
            f"{stats.records:,}",
            _excluded(stats),
            f"{seconds:.1f}",
            f"{ratio:.1f}x",
        )
    console.print(table)

    per_tag = Table(title="kept and excluded DAG files per tag")
    for column in ("ref", "python files", "kept", "excluded (besides not_dag)"):
        per_tag.add_column(column)
    focus: dict[str, dict[str, object]] = {}
    for tag in FOCUS:
        if tag in blob_all.per_ref:
            ref = blob_all.per_ref[tag]
            excluded = {str(k): v for k, v in ref.excluded.items() if k != ExclusionReason.NOT_DAG}
            focus[tag] = {"files": ref.files, "kept": ref.kept, "excluded": excluded}
            per_tag.add_row(tag, f"{ref.files:,}", f"{ref.kept:,}", ", ".join(f"{k}={v}" for k, v in excluded.items()))
    if args.pypi_3x:
        with tempfile.TemporaryDirectory() as tmp:
            wheels = dagmine.fetch_distributions(WHEELS_3X, tmp)
            stats = dagmine.Miner(dagmine.DistributionSource(*wheels)).run().stats
        for name, ref in stats.per_ref.items():
            excluded = {str(k): v for k, v in ref.excluded.items() if k != ExclusionReason.NOT_DAG}
            focus[name] = {"files": ref.files, "kept": ref.kept, "excluded": excluded}
            per_tag.add_row(name, f"{ref.files:,}", f"{ref.kept:,}", ", ".join(f"{k}={v}" for k, v in excluded.items()))
    console.print(per_tag)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "tags": len(tags),
                "naive_sample_tags": sample,
                "seconds": {
                    "blob_all": blob_all_s,
                    "blob_sample": blob_sample_s,
                    "naive_sample": naive_s,
                    "naive_all_extrapolated": naive_all_s,
                },
                "ratio_sample": naive_s / blob_sample_s,
                "ratio_all_extrapolated": naive_all_s / blob_all_s,
                "blob_all": blob_all.model_dump(mode="json", exclude={"per_ref"}),
                "naive_sample": naive.model_dump(mode="json", exclude={"per_ref"}),
                "focus": focus,
            },
            indent=2,
        )
    )
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
