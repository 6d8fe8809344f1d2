"""Composed files (dagsynth) join the train split only; evaluation requests never enter it, nor near copies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import dageval
import dagsynth
from dagdata import DatasetConfig, InputError, build_dataset
from dagdata._leaks import closest, shingles


def _benchmark_requests() -> list[str]:
    return [json.loads(line)["request"] for line in dageval.benchmark_file().read_text().splitlines() if line.strip()]


def _mined(tmp_path: Path, kit: SimpleNamespace, n: int) -> Any:
    """`n` small mined example DAGs for 2.10, each with one request (not yet written)."""
    mined = kit.Inputs(tmp_path / "mined")
    for i in range(n):
        dag = kit.dag(kit.code(f"m{i}"), f"airflow/example_dags/example_m{i}.py", "2.10.3")
        mined.dags.append(dag)
        mined.instructions.append(kit.instruction(dag, f"m{i}", f"Build pipeline number {i} for the sales team."))
    return mined


def test_composed_rows_train_only_and_evaluation_requests_are_kept_out(
    tmp_path: Path, tokenizer_dir: Path, kit: SimpleNamespace
) -> None:
    mined = _mined(tmp_path, kit, 12)
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


def _airflow_judge(dags: Sequence[dagsynth.ComposedDag]) -> list[dagsynth.Verdict]:
    """dageval to the import level in a real Airflow of each file's series, as the pipeline's compose stage."""
    samples = [dageval.Sample(id=d.id, completion=d.code, airflow_version=d.airflow_version) for d in dags]
    verdicts = dageval.evaluate(samples, level=dageval.Level.IMPORT, install_providers=False)
    out = []
    for v in verdicts:
        last = v.results[-1]
        ok = v.passed is not None and v.passed >= dageval.Level.IMPORT
        out.append(dagsynth.Verdict(ok=ok, level=last.level.label, category=last.category or "", message=last.message))
    return out


def test_repair_lessons_show_the_real_airflow_error_of_a_broken_file_then_teach_the_file(
    tmp_path: Path, tokenizer_dir: Path, kit: SimpleNamespace
) -> None:
    mined = _mined(tmp_path, kit, 4)
    mined.write()
    composed = dagsynth.compose_to_dir(
        tmp_path / "composed", per_version=6, versions=["2.10", "3.1"], judge=_airflow_judge, judged_by="t", repairs=1.0
    )
    lessons = sum(composed.repairs.values())
    assert composed.kept and lessons, composed
    rows = kit.read_jsonl(composed.instructions_file)
    assert sum("repair" in r for r in rows) == lessons
    config = DatasetConfig(tokenizer=str(tokenizer_dir), max_tokens=4096, test_fraction=0.25)
    summary = build_dataset(
        mined.dags_file, mined.instructions_file, tmp_path / "out", config, composed_path=composed.out_dir
    )
    train = kit.read_jsonl(summary.train_file)
    repairs = [r for r in train if r["style"].startswith("repair")]
    # Each lesson is its own conversation beside its file's plain requests: not a duplicate of them.
    assert summary.repairs == len(repairs) == lessons
    codes = {d["id"]: d["code"] for d in kit.read_jsonl(composed.dags_file)}
    for row in repairs:
        _, _, broken, told, fixed = row["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "user", "assistant"]
        assert fixed["content"] == config.contract.answer(codes[row["dag_id"]])
        assert broken["content"] != fixed["content"]
        # The words a real Airflow said, as the repair loop sends them (dagcore.FEEDBACK, dagcore.repair.problem).
        assert told["content"].startswith("The code failed validation: [")
        assert told["content"].endswith("Return the full corrected file.")
    told = " ".join(r["messages"][3]["content"] for r in repairs)
    assert "is not defined" in told or "cannot import name" in told or "No module named" in told, told
    # Lessons hold two files: their own length limit lets them in beside plain conversations kept short.
    plain = max(r["n_tokens"] for r in train if not r["style"].startswith("repair"))
    fit = sum(r["n_tokens"] <= plain for r in repairs)
    assert fit < lessons
    short = config.model_copy(update={"max_tokens": plain})
    alone = build_dataset(
        mined.dags_file, mined.instructions_file, tmp_path / "short", short, composed_path=composed.out_dir
    )
    assert alone.repairs == fit and alone.composed == summary.composed - lessons + fit
    both = build_dataset(
        mined.dags_file,
        mined.instructions_file,
        tmp_path / "both",
        short.model_copy(update={"max_repair_tokens": 4096}),
        composed_path=composed.out_dir,
    )
    assert both.repairs == lessons and both.composed == summary.composed


def test_several_composed_folders_join_train_together_and_a_missing_one_is_named(
    tmp_path: Path, tokenizer_dir: Path, kit: SimpleNamespace
) -> None:
    mined = _mined(tmp_path, kit, 8)
    mined.write()
    first = dagsynth.compose_to_dir(tmp_path / "first", per_version=5, versions=["2.10"], seed=1, judge=None)
    second = dagsynth.compose_to_dir(tmp_path / "second", per_version=4, versions=["3.1"], seed=2, judge=None)
    config = DatasetConfig(tokenizer=str(tokenizer_dir), max_tokens=4096, test_fraction=0.25)
    args = (mined.dags_file, mined.instructions_file)
    one = build_dataset(*args, tmp_path / "one", config, composed_path=first.out_dir)
    both = build_dataset(*args, tmp_path / "both", config, composed_path=[first.out_dir, second.out_dir])
    train = kit.read_jsonl(both.train_file)
    ids = {d["id"] for d in kit.read_jsonl(second.dags_file)}
    assert one.composed and both.composed == one.composed + sum(r["dag_id"] in ids for r in train) > one.composed
    series = {".".join(r["airflow_version"].split(".")[:2]) for r in train if r["source"] == "composed"}
    assert series == {"2.10", "3.1"}
    assert both.test == one.test  # composed files never move the held-out split
    # A folder as one path and as a list of one is the same dataset (the same fingerprint: found, not rebuilt).
    again = build_dataset(*args, tmp_path / "one", config, composed_path=[first.out_dir])
    assert again.skipped
    with pytest.raises(InputError, match="missing"):
        build_dataset(*args, tmp_path / "bad", config, composed_path=[first.out_dir, tmp_path / "missing"])
