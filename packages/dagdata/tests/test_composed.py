"""Composed files (dagsynth) join the train split only; evaluation requests never enter it, nor near copies."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import dageval
import dagsynth
from dagdata import DatasetConfig, build_dataset
from dagdata._leaks import closest, shingles


def _benchmark_requests() -> list[str]:
    return [json.loads(line)["request"] for line in dageval.benchmark_file().read_text().splitlines() if line.strip()]


def test_composed_rows_train_only_and_evaluation_requests_are_kept_out(
    tmp_path: Path, tokenizer_dir: Path, kit: SimpleNamespace
) -> None:
    mined = kit.Inputs(tmp_path / "mined")
    for i in range(12):
        dag = kit.dag(kit.code(f"m{i}"), f"airflow/example_dags/example_m{i}.py", "2.10.3")
        mined.dags.append(dag)
        mined.instructions.append(kit.instruction(dag, f"m{i}", f"Build pipeline number {i} for the sales team."))
    benchmark = _benchmark_requests()
    # A reworded benchmark request (one word changed) must not reach training.
    leaked = benchmark[3].replace("the", "our", 1)
    mined.instructions.append(kit.instruction(mined.dags[0], "leak", leaked))
    mined.write()
    composed = dagsynth.compose_to_dir(tmp_path / "composed", per_version=10, versions=["2.10", "3.1"], judge=None)
    config = DatasetConfig(tokenizer=str(tokenizer_dir), max_tokens=4096, test_fraction=0.25)
    summary = build_dataset(
        mined.dags_file,
        mined.instructions_file,
        tmp_path / "out",
        config,
        composed_path=composed.out_dir,
        exclude_requests=dageval.benchmark_file(),
    )
    train = kit.read_jsonl(summary.train_file)
    test = kit.read_jsonl(summary.test_file)
    assert summary.filters.evaluation_overlap == 1
    assert summary.composed == 40 == sum(r["source"] == "composed" for r in train)
    assert not any(r["source"] == "composed" for r in test)
    assert all(score < config.overlap_threshold for score in closest([r["request"] for r in train], benchmark))
    assert leaked not in {r["request"] for r in train + test}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "40 on composed ones" in card and "evaluation set | 1 |" in card


def test_composed_requests_are_far_from_every_benchmark_request() -> None:
    requests = [r for d in dagsynth.compose(100, ["2.9", "2.10", "3.0", "3.1"]) for r in d.requests]
    scores = closest(requests, _benchmark_requests())
    assert max(scores) < 0.3, max(scores)
    assert shingles("Run it daily at 6am") == shingles("run it DAILY at 6am!")
