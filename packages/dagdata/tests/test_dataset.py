"""build_dataset() end to end: join, filters, grouped split, replay, outputs, card, plots, skip and errors.

Most assertions run against one build of a corpus designed so that every filter fires a known number
of times (see `main_corpus`). Smaller builds cover the policies, replay, determinism and rebuilds.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from dagcore import is_test_internal
from dagdata import (
    CHATML_TEMPLATE,
    DEFAULT_CONTRACT,
    DagdataError,
    DatasetConfig,
    DatasetSummary,
    InputError,
    TokenizerError,
    build_dataset,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VERSIONS = ["2.9.3", "2.10.3", "3.0.1"]
MISSING_DAG_ID = "0" * 16
MAX_TOKENS = 1200


def fenced(code: str) -> str:
    return "```python\n" + code.rstrip("\n") + "\n```"


def variant(code: str, task: int) -> str:
    """`code` with one token (the number echoed by its `task`-th task) changed: a near duplicate."""
    lines = code.splitlines(keepends=True)
    task_lines = [i for i, line in enumerate(lines) if "BashOperator(task_id=" in line]
    i = task_lines[task]
    lines[i] = re.sub(r"(\d+)'\)$", lambda m: f"{int(m.group(1)) + 100000}')", lines[i].rstrip("\n")) + "\n"
    changed = "".join(lines)
    assert changed != code
    return changed


def rows_of(out: Path, kit: SimpleNamespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return kit.read_jsonl(out / "train.jsonl"), kit.read_jsonl(out / "test.jsonl")


def split_of(dag_id: str, train: list[dict[str, Any]], test: list[dict[str, Any]]) -> set[str]:
    return {"train" for r in train if r["dag_id"] == dag_id} | {"test" for r in test if r["dag_id"] == dag_id}


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


# --------------------------------------------------------------------------------------------------------------
# The main corpus: one build, many checks


@dataclass
class Built:
    inputs: Any
    out: Path
    summary: DatasetSummary
    config: DatasetConfig
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    ids: dict[str, str]
    """Role in the corpus -> DAG id."""


@pytest.fixture(scope="module")
def main_corpus(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path, kit: SimpleNamespace) -> Built:
    """41 joined conversations; 3 requests for an unknown DAG; filters: 2 test internals, 2 exact duplicates,
    1 too long; 36 kept (2.9: 13, 2.10: 12, 3.0: 11). near_dup_policy="group", test_fraction=0.5.

    - 16 regular DAGs r0..r15, two requests each, versions cycling 2.9.3 / 2.10.3 / 3.0.1
    - r0 asked a third time with its first request's exact words (exact duplicate)
    - `copy`: r1's code plus a comment line, at another path, with r1's first request (exact duplicate)
    - `near_a` / `near_b`: different ids and paths, code one token apart (near duplicates, kept in `group`)
    - `lineage_old` (2.9.3) / `lineage_new` (3.0.1): same path, unrelated code
    - `tainted`: imports `tests.system.utils`, two requests
    - `long`: far over MAX_TOKENS
    """
    inputs = kit.Inputs(tmp_path_factory.mktemp("main-in"))
    ids: dict[str, str] = {}

    def add(role: str, dag: Any, *texts: str) -> None:
        ids[role] = dag.id
        inputs.dags.append(dag)
        for n, text in enumerate(texts):
            inputs.instructions.append(kit.instruction(dag, f"{role}-{n}", text, style=("casual", "formal")[n % 2]))

    for i in range(16):
        add(
            f"r{i}",
            kit.dag(kit.code(f"r{i}"), f"airflow/example_dags/example_r{i}.py", VERSIONS[i % 3]),
            f"Build pipeline number {i} for the sales team.",
            f"I need DAG {i}, run it by hand.",
        )
    inputs.instructions.append(kit.instruction(ids["r0"], "r0-dup", "Build pipeline number 0 for the sales team."))
    r1 = inputs.dags[1]
    add(
        "copy",
        kit.dag("# a copy of r1\n" + r1.code, "providers/example_copy.py", r1.last_version),
        "Build pipeline number 1 for the sales team.",
    )

    near = kit.code("near", tasks=12)
    add("near_a", kit.dag(near, "airflow/example_dags/example_near.py", "2.10.3"), "Copy files between buckets.")
    add(
        "near_b",
        kit.dag(variant(near, 5), "providers/google/example_near_gcs.py", "2.10.3"),
        "Move objects from one bucket to the other.",
    )
    lineage = "airflow/example_dags/example_lineage.py"
    add("lineage_old", kit.dag(kit.code("lineage-old"), lineage, "2.9.3"), "Show lineage between tasks.")
    add("lineage_new", kit.dag(kit.code("lineage-new", tasks=12), lineage, "3.0.1"), "Show lineage, 3.x style.")
    add(
        "tainted",
        kit.dag(
            kit.code("tainted"),
            "tests/system/example_tainted.py",
            "2.10.3",
            imports=["airflow", "pendulum", "tests.system.utils"],
        ),
        "Run a system test.",
        "Watch the test run.",
    )
    add(
        "long",
        kit.dag(kit.code("long", tasks=300), "airflow/example_dags/example_long.py", "2.10.3"),
        "A DAG with very many tasks.",
    )
    for n in range(3):
        inputs.instructions.append(kit.instruction(MISSING_DAG_ID, f"missing-{n}"))
    inputs.write()

    config = DatasetConfig(
        tokenizer=str(tokenizer_dir), max_tokens=MAX_TOKENS, near_dup_policy="group", test_fraction=0.5, seed=0
    )
    out = tmp_path_factory.mktemp("main-out") / "dataset"
    summary = build_dataset(inputs.dags_file, inputs.instructions_file, out, config)
    train, test = rows_of(out, kit)
    return Built(inputs, out, summary, config, train, test, ids)


def test_filter_counts_are_exact(main_corpus: Built) -> None:
    f = main_corpus.summary.filters
    assert f.model_dump() == {
        "joined": 41,
        "missing_dag": 3,
        "test_internals": 2,
        "exact_duplicates": 2,
        "near_duplicates": 0,
        "too_long": 1,
        "evaluation_overlap": 0,
        "kept": 36,
    }
    s = main_corpus.summary
    assert s.skipped is False
    assert s.replay == 0
    assert s.train + s.test == 36
    assert (len(main_corpus.train), len(main_corpus.test)) == (s.train, s.test)
    assert s.test == 18  # test_fraction 0.5 of 36, in whole groups of two conversations each


def test_over_long_sample_is_dropped_never_truncated(main_corpus: Built, tokenizer: Any) -> None:
    rows = main_corpus.train + main_corpus.test
    assert main_corpus.summary.filters.too_long == 1
    assert main_corpus.ids["long"] not in {r["dag_id"] for r in rows}
    for row in rows:
        assert row["messages"][-1]["role"] == "assistant"
        assert row["messages"][-1]["content"] == fenced(main_corpus.inputs.code_of(row["dag_id"]))
        assert row["n_tokens"] <= MAX_TOKENS
    assert main_corpus.summary.longest == max(r["n_tokens"] for r in rows)

    # n_tokens is the whole templated conversation in the target tokenizer, and `long` really is over the limit.
    tokenizer.chat_template = CHATML_TEMPLATE
    for row in rows[:5]:
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        assert row["n_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    long_code = main_corpus.inputs.code_of(main_corpus.ids["long"])
    long_text = tokenizer.apply_chat_template(DEFAULT_CONTRACT.messages("x", "2.10.3", long_code), tokenize=False)
    assert len(tokenizer(long_text, add_special_tokens=False)["input_ids"]) > MAX_TOKENS


def test_unknown_dag_requests_are_counted_not_joined(main_corpus: Built) -> None:
    rows = main_corpus.train + main_corpus.test
    assert main_corpus.summary.filters.missing_dag == 3
    assert not any(r["dag_id"] == MISSING_DAG_ID or r["instruction_id"].startswith("missing-") for r in rows)


def test_test_internal_imports_are_rejected(main_corpus: Built) -> None:
    rows = main_corpus.train + main_corpus.test
    assert main_corpus.summary.filters.test_internals == 2
    assert main_corpus.ids["tainted"] not in {r["dag_id"] for r in rows}
    imports = {d.id: d.imports for d in main_corpus.inputs.dags}
    assert not any(is_test_internal(m) for r in rows for m in imports[r["dag_id"]])
    assert not any("tests.system" in r["messages"][-1]["content"] for r in rows)


def test_exact_duplicates_are_counted_and_dropped_once(main_corpus: Built) -> None:
    rows = main_corpus.train + main_corpus.test
    assert main_corpus.summary.filters.exact_duplicates == 2
    instruction_ids = [r["instruction_id"] for r in rows]
    assert "r0-dup" not in instruction_ids
    assert main_corpus.ids["copy"] not in {r["dag_id"] for r in rows}
    # The first of each duplicate pair stays.
    assert {"r0-0", "r0-1", "r1-0", "r1-1"} <= set(instruction_ids)
    keys = Counter((r["dag_id"], r["messages"][1]["content"]) for r in rows)
    assert max(keys.values()) == 1
    assert len(set(instruction_ids)) == len(rows) == len({r["id"] for r in rows})


def test_near_duplicates_share_a_group_and_a_split(main_corpus: Built, kit: SimpleNamespace) -> None:
    a, b = main_corpus.ids["near_a"], main_corpus.ids["near_b"]
    assert kit.jaccard(main_corpus.inputs.code_of(a), main_corpus.inputs.code_of(b)) > 0.9
    rows = {r["dag_id"]: r for r in main_corpus.train + main_corpus.test}
    assert a in rows and b in rows  # policy "group" keeps both
    assert rows[a]["group"] == rows[b]["group"]
    assert len(split_of(a, main_corpus.train, main_corpus.test) | split_of(b, main_corpus.train, main_corpus.test)) == 1


def test_same_path_across_versions_shares_a_group_and_a_split(main_corpus: Built, kit: SimpleNamespace) -> None:
    old, new = main_corpus.ids["lineage_old"], main_corpus.ids["lineage_new"]
    assert kit.jaccard(main_corpus.inputs.code_of(old), main_corpus.inputs.code_of(new)) < 0.3
    rows = {r["dag_id"]: r for r in main_corpus.train + main_corpus.test}
    assert rows[old]["group"] == rows[new]["group"]
    assert rows[old]["airflow_version"] == "2.9.3"
    assert rows[new]["airflow_version"] == "3.0.1"
    splits = split_of(old, main_corpus.train, main_corpus.test) | split_of(new, main_corpus.train, main_corpus.test)
    assert len(splits) == 1


def test_no_group_straddles_the_splits(main_corpus: Built) -> None:
    train_groups = {r["group"] for r in main_corpus.train}
    test_groups = {r["group"] for r in main_corpus.test}
    assert train_groups.isdisjoint(test_groups)
    assert len(train_groups | test_groups) == 18  # 16 regular DAGs, the near pair, the lineage


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_groups_hold_for_other_seeds(main_corpus: Built, tmp_path: Path, kit: SimpleNamespace, seed: int) -> None:
    config = main_corpus.config.model_copy(update={"seed": seed})
    build_dataset(main_corpus.inputs.dags_file, main_corpus.inputs.instructions_file, tmp_path / "o", config)
    train, test = rows_of(tmp_path / "o", kit)
    assert {r["group"] for r in train}.isdisjoint({r["group"] for r in test})
    for pair in (("near_a", "near_b"), ("lineage_old", "lineage_new")):
        a, b = (main_corpus.ids[p] for p in pair)
        assert len(split_of(a, train, test) | split_of(b, train, test)) == 1


def test_cross_split_similarity_stays_below_threshold_when_grouped(main_corpus: Built) -> None:
    similarity = main_corpus.summary.max_cross_split_similarity
    assert 0.0 <= similarity < main_corpus.config.near_dup_threshold


def test_conversations_follow_the_prompt_contract(main_corpus: Built) -> None:
    instructions = {i.custom_id: i for i in main_corpus.inputs.instructions}
    versions = {d.id: d.last_version for d in main_corpus.inputs.dags}
    for row in main_corpus.train + main_corpus.test:
        instruction = instructions[row["instruction_id"]]
        assert row["messages"] == DEFAULT_CONTRACT.messages(
            instruction.text, versions[row["dag_id"]], main_corpus.inputs.code_of(row["dag_id"])
        )
        assert row["airflow_version"] == versions[row["dag_id"]]
        assert row["source"] == "airflow"
        assert row["contract_version"] == DEFAULT_CONTRACT.version
        assert row["style"] == instruction.style


def test_instruction_version_overrides_the_dag_version(tmp_path: Path, kit: SimpleNamespace, config: Any) -> None:
    inputs = kit.Inputs(tmp_path / "in")
    dag = kit.dag(kit.code("override"), "dags/o.py", "3.0.1")
    inputs.dags = [dag]
    inputs.instructions = [kit.instruction(dag, "a", "Write it.", airflow_version="2.10.3")]
    inputs.write()
    build_dataset(inputs.dags_file, inputs.instructions_file, tmp_path / "out", config)
    (row,) = kit.read_jsonl(tmp_path / "out" / "train.jsonl")
    assert row["airflow_version"] == "2.10.3"
    assert row["messages"][1]["content"] == "Write it.\n\nTarget: Apache Airflow 2.10"


def test_output_folder_is_complete_and_written_atomically(main_corpus: Built) -> None:
    out = main_corpus.out
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "chat_template.jinja",
        "hf",
        "manifest.json",
        "plots",
        "test.jsonl",
        "train.jsonl",
    ]
    assert [p.name for p in out.parent.iterdir()] == ["dataset"]  # no temporary or old folder left beside it
    assert (out / "chat_template.jinja").read_text(encoding="utf-8") == CHATML_TEMPLATE


def test_manifest_records_config_summary_and_versions(main_corpus: Built) -> None:
    manifest = json.loads((main_corpus.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stage"] == "dataset"
    assert manifest["config"] == main_corpus.config.model_dump(mode="json")
    assert manifest["contract"] == DEFAULT_CONTRACT.model_dump(mode="json")
    assert manifest["versions"] == {"2.10": 12, "2.9": 13, "3.0": 11}
    assert manifest["summary"]["filters"] == main_corpus.summary.filters.model_dump()
    assert manifest["summary"]["train"] == main_corpus.summary.train
    assert sorted(manifest["plots"]) == ["plots/lengths.png", "plots/versions.png"]


def test_saved_dataset_loads_back_and_renders_with_the_chat_template(main_corpus: Built, tokenizer: Any) -> None:
    from datasets import load_from_disk

    loaded = load_from_disk(str(main_corpus.out / "hf"))
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].num_rows == main_corpus.summary.train
    assert loaded["test"].num_rows == main_corpus.summary.test
    assert {"id", "dag_id", "messages", "n_tokens", "group", "source", "contract_version"} <= set(
        loaded["train"].column_names
    )
    assert loaded["train"]["id"] == [r["id"] for r in main_corpus.train]
    assert loaded["test"]["id"] == [r["id"] for r in main_corpus.test]

    tokenizer.chat_template = (main_corpus.out / "chat_template.jinja").read_text(encoding="utf-8")
    for split in ("train", "test"):
        row = loaded[split][0]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        assert "<|im_start|>assistant" in text
        assert main_corpus.inputs.code_of(row["dag_id"]).rstrip("\n") in text
        assert text.count("<|im_end|>") == 3


def test_card_has_counts_per_version_filters_and_licence(main_corpus: Built) -> None:
    readme = (main_corpus.out / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\nlicense: apache-2.0\n")
    assert "## Licence" in readme
    assert "Apache License 2.0" in readme
    train = Counter(r["airflow_version"].rsplit(".", 1)[0] for r in main_corpus.train)
    test = Counter(r["airflow_version"].rsplit(".", 1)[0] for r in main_corpus.test)
    table = re.findall(r"^\| (\d+\.\d+|latest) \| ([\d,]+) \| ([\d,]+) \|$", readme, re.MULTILINE)
    assert table == [(v, str(train[v]), str(test[v])) for v in ("2.9", "2.10", "3.0")]  # in version order
    assert {v: train[v] + test[v] for v in train | test} == {"2.9": 13, "2.10": 12, "3.0": 11}
    assert "| requests for unknown DAGs | 3 |" in readme
    assert "| dropped: imports Airflow test internals | 2 |" in readme
    assert "| dropped: exact duplicates | 2 |" in readme
    assert "| dropped: near duplicates (group) | 0 |" in readme
    assert f"| dropped: longer than {MAX_TOKENS:,} tokens | 1 |" in readme
    assert "| kept | 36 |" in readme
    assert f"train: **{main_corpus.summary.train}** conversations (0 of them general replay)" in readme
    assert "| `BashOperator` | 36 |" in readme


def test_plots_are_png_files(main_corpus: Built) -> None:
    for name in ("lengths.png", "versions.png"):
        data = (main_corpus.out / "plots" / name).read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 1000


# --------------------------------------------------------------------------------------------------------------
# Near-duplicate policy and cross-split similarity


def test_keep_newest_keeps_the_newest_per_cluster_and_major_version(
    tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig
) -> None:
    base = kit.code("cluster", tasks=16)
    inputs = kit.Inputs(tmp_path / "in")
    by_version = {}
    # File order puts an older version first and the newest 2.x in the middle.
    for n, version in enumerate(["2.9.3", "2.2.5", "2.10.3", "3.0.0", "3.0.2"]):
        dag = kit.dag(variant(base, n), f"dags/v{n}/cluster.py", version)
        by_version[version] = dag.id
        inputs.dags.append(dag)
        inputs.instructions.append(kit.instruction(dag, f"c{n}", f"Cluster request {n}."))
    others = [kit.dag(kit.code(f"other-{n}"), f"dags/other_{n}.py", "2.10.3") for n in range(4)]
    inputs.dags += others
    inputs.instructions += [kit.instruction(d, f"o{n}", f"Other request {n}.") for n, d in enumerate(others)]
    inputs.write()
    for a in inputs.dags[:5]:
        for b in inputs.dags[:5]:
            assert a is b or kit.jaccard(a.code, b.code) > 0.9

    summary = build_dataset(inputs.dags_file, inputs.instructions_file, tmp_path / "out", config)
    assert config.near_dup_policy == "keep_newest"
    assert summary.filters.near_duplicates == 3
    assert summary.filters.kept == 6
    train, test = rows_of(tmp_path / "out", kit)
    kept = {r["dag_id"] for r in train + test}
    assert kept == {by_version["2.10.3"], by_version["3.0.2"]} | {d.id for d in others}


def test_near_duplicates_in_different_groups_show_up_as_cross_split_similarity(
    tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig
) -> None:
    """With a threshold above their similarity, a near-duplicate pair is two groups: one per split here,
    and the reported similarity is what makes the leak visible."""
    base = kit.code("leak", tasks=16)
    a, b = kit.dag(base, "dags/a.py"), kit.dag(variant(variant(base, 3), 9), "dags/b.py")
    true_jaccard = kit.jaccard(a.code, b.code)
    assert 0.9 < true_jaccard < 0.95
    inputs = kit.Inputs(tmp_path / "in", [a, b], [kit.instruction(a, "a"), kit.instruction(b, "b")]).write()
    loose = config.model_copy(update={"near_dup_threshold": 0.98, "near_dup_policy": "group", "test_fraction": 0.5})
    summary = build_dataset(inputs.dags_file, inputs.instructions_file, tmp_path / "loose", loose)
    assert (summary.train, summary.test) == (1, 1)
    assert summary.max_cross_split_similarity == pytest.approx(true_jaccard, abs=0.08)
    assert summary.max_cross_split_similarity >= 0.85  # a leak at the default threshold, and it is reported

    grouped = loose.model_copy(update={"near_dup_threshold": 0.85})
    summary = build_dataset(inputs.dags_file, inputs.instructions_file, tmp_path / "grouped", grouped)
    assert summary.train + summary.test == 2
    assert summary.max_cross_split_similarity < 0.85  # one split holds both: nothing to compare across


def test_moderately_similar_dags_are_reported_but_not_grouped(
    tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig
) -> None:
    base = kit.code("moderate", tasks=12).splitlines(keepends=True)
    other = kit.code("moderate-other", tasks=12).splitlines(keepends=True)
    mixed = "".join(base[:14] + other[14:])  # header and first six tasks shared, the rest differs
    a, b = kit.dag("".join(base), "dags/a.py"), kit.dag(mixed, "dags/b.py")
    true_jaccard = kit.jaccard(a.code, b.code)
    assert 0.35 < true_jaccard < 0.7
    inputs = kit.Inputs(tmp_path / "in", [a, b], [kit.instruction(a, "a"), kit.instruction(b, "b")]).write()
    cfg = config.model_copy(update={"near_dup_policy": "group", "test_fraction": 0.5})
    summary = build_dataset(inputs.dags_file, inputs.instructions_file, tmp_path / "out", cfg)
    train, test = rows_of(tmp_path / "out", kit)
    assert len(train) == len(test) == 1
    assert train[0]["group"] != test[0]["group"]
    assert summary.max_cross_split_similarity == pytest.approx(true_jaccard, abs=0.1)
    assert summary.max_cross_split_similarity < cfg.near_dup_threshold


def test_any_threshold_in_range_builds_or_is_refused_clearly(
    small_inputs: Any, tmp_path: Path, config: DatasetConfig
) -> None:
    """near_dup_threshold is a Jaccard in [0, 1]: 0.99 ("only near-identical code") must either build or be
    refused with dagdata's own error or a validation error, never crash inside datasketch."""
    try:
        strict = DatasetConfig.model_validate({**config.model_dump(), "near_dup_threshold": 0.99})
    except ValidationError:
        return
    try:
        summary = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, tmp_path / "out", strict)
    except DagdataError:
        return
    assert summary.filters.kept == 6


# --------------------------------------------------------------------------------------------------------------
# Replay and determinism


@pytest.fixture(scope="module")
def flat_corpus(tmp_path_factory: pytest.TempPathFactory, kit: SimpleNamespace) -> Any:
    """50 unrelated DAGs, one request each, and a replay file of 30 general conversations."""
    inputs = kit.Inputs(tmp_path_factory.mktemp("flat-in"))
    for n in range(50):
        dag = kit.dag(kit.code(f"flat-{n}", tasks=4), f"dags/flat_{n}.py", VERSIONS[n % 3])
        inputs.dags.append(dag)
        inputs.instructions.append(kit.instruction(dag, f"f{n}", f"Flat request {n}."))
    inputs.write()
    replay = [
        {"messages": [{"role": "user", "content": f"What is {n} + {n}?"}, {"role": "assistant", "content": str(2 * n)}]}
        for n in range(30)
    ]
    kit.write_jsonl(inputs.folder / "replay.jsonl", replay)
    return inputs


@pytest.fixture(scope="module")
def replay_build(
    flat_corpus: Any, tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path
) -> tuple[DatasetSummary, Path]:
    """The flat corpus split 40 / 10 with replay_ratio 0.5: 20 replay rows join train."""
    cfg = DatasetConfig(tokenizer=str(tokenizer_dir), test_fraction=0.2, replay_ratio=0.5)
    out = tmp_path_factory.mktemp("replay-out") / "dataset"
    summary = build_dataset(
        flat_corpus.dags_file, flat_corpus.instructions_file, out, cfg, replay_path=flat_corpus.folder / "replay.jsonl"
    )
    return summary, out


def test_replay_is_mixed_into_train_at_the_ratio(
    flat_corpus: Any, replay_build: tuple[DatasetSummary, Path], kit: SimpleNamespace
) -> None:
    summary, out = replay_build
    train, test = rows_of(out, kit)
    assert summary.filters.kept == 50
    assert (summary.train, summary.test, summary.replay) == (60, 10, 20)
    assert sum(r["source"] == "airflow" for r in train) == 40
    replay = [r for r in train if r["source"] == "replay"]
    assert len(replay) == 20
    assert all(r["source"] == "airflow" for r in test)
    assert all(r["dag_id"] == "" and r["style"] == "replay" for r in replay)
    assert len({r["id"] for r in replay}) == 20
    originals = {m["messages"][0]["content"] for m in kit.read_jsonl(flat_corpus.folder / "replay.jsonl")}
    assert {r["messages"][0]["content"] for r in replay} <= originals

    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "train: **60** conversations (20 of them general replay), test: **10**" in readme
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["summary"]["replay"] == 20
    assert manifest["versions"] == {"2.10": 17, "2.9": 17, "3.0": 16}  # the 50 mined conversations only
    from datasets import load_from_disk

    loaded = load_from_disk(str(out / "hf"))
    assert Counter(loaded["train"]["source"]) == {"airflow": 40, "replay": 20}
    assert Counter(loaded["test"]["source"]) == {"airflow": 10}


def test_card_version_counts_leave_out_replay(replay_build: tuple[DatasetSummary, Path]) -> None:
    """Replay rows ask for no Airflow version: the card's per-version table counts the mined conversations
    only, as manifest.json's `versions` does (no `latest` row made of replay conversations)."""
    _, out = replay_build
    readme = (out / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    table = re.findall(r"^\| (\d+\.\d+|latest) \| ([\d,]+) \| ([\d,]+) \|$", readme, re.MULTILINE)
    assert {v: int(a) + int(b) for v, a, b in table} == manifest["versions"]


def test_replay_path_directory_and_zero_ratio(
    flat_corpus: Any, tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig
) -> None:
    """A folder as replay path means its replay.jsonl; ratio 0 mixes nothing in."""
    cfg = config.model_copy(update={"test_fraction": 0.2})
    summary = build_dataset(
        flat_corpus.folder, flat_corpus.folder, tmp_path / "out", cfg, replay_path=flat_corpus.folder
    )
    assert (summary.train, summary.test, summary.replay) == (40, 10, 0)


def test_split_is_deterministic_by_seed(
    flat_corpus: Any, tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig
) -> None:
    cfg = config.model_copy(update={"test_fraction": 0.2, "replay_ratio": 0.25})
    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        build_dataset(
            flat_corpus.dags_file,
            flat_corpus.instructions_file,
            tmp_path / name,
            cfg.model_copy(update={"seed": seed}),
            replay_path=flat_corpus.folder / "replay.jsonl",
        )
        outs[name] = rows_of(tmp_path / name, kit)

    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["id"] for r in rows]

    (train_a, test_a), (train_b, test_b), (train_c, test_c) = outs["a"], outs["b"], outs["c"]
    assert ids(train_a) == ids(train_b)
    assert ids(test_a) == ids(test_b)
    for name in ("train.jsonl", "test.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert len(test_c) == len(test_a) == 10
    assert set(ids(test_c)) != set(ids(test_a))
    assert set(ids(train_c) + ids(test_c)) - set(ids(train_c)) == set(ids(test_c))
    airflow = {r["id"] for r in train_c + test_c if r["source"] == "airflow"}
    assert airflow == {r["id"] for r in train_a + test_a if r["source"] == "airflow"}


# --------------------------------------------------------------------------------------------------------------
# Skip, rebuild, progress


@pytest.fixture
def small_inputs(tmp_path: Path, kit: SimpleNamespace) -> Any:
    inputs = kit.Inputs(tmp_path / "in")
    for n in range(6):
        dag = kit.dag(kit.code(f"small-{n}", tasks=3), f"dags/small_{n}.py", VERSIONS[n % 3])
        inputs.dags.append(dag)
        inputs.instructions.append(kit.instruction(dag, f"s{n}", f"Small request {n}."))
    return inputs.write()


def test_unchanged_inputs_skip_and_leave_files_untouched(
    small_inputs: Any, tmp_path: Path, config: DatasetConfig
) -> None:
    out = tmp_path / "out"
    first = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, config)
    before = mtimes(out)
    second = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, config)
    assert first.skipped is False
    assert second.skipped is True
    assert second.model_dump(exclude={"skipped"}) == first.model_dump(exclude={"skipped"})
    assert mtimes(out) == before
    # The same folder given instead of the files is the same input.
    third = build_dataset(small_inputs.folder, small_inputs.folder, out, config)
    assert third.skipped is True
    assert mtimes(out) == before


def test_changes_rebuild(small_inputs: Any, tmp_path: Path, kit: SimpleNamespace, config: DatasetConfig) -> None:
    out = tmp_path / "out"
    build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, config)
    fingerprint = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["fingerprint"]

    changed = config.model_copy(update={"seed": 7})
    summary = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, changed)
    assert summary.skipped is False
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["seed"] == 7
    assert manifest["fingerprint"] != fingerprint
    assert build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, changed).skipped is True

    # New input: one more request for an existing DAG.
    small_inputs.instructions.append(kit.instruction(small_inputs.dags[0], "s-extra", "Another request."))
    small_inputs.write()
    summary = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, changed)
    assert summary.skipped is False
    assert summary.filters.joined == 7

    forced = build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, changed, force=True)
    assert forced.skipped is False
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_progress_reports_each_stage(small_inputs: Any, tmp_path: Path, config: DatasetConfig) -> None:
    seen: list[tuple[str, int, int]] = []
    build_dataset(
        small_inputs.dags_file,
        small_inputs.instructions_file,
        tmp_path / "out",
        config,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    stages = [s for s, _, _ in seen]
    assert seen[0] == ("join", 6, 6)
    assert [s for s in stages if s in {"join", "tokens", "split"}] == ["join", "tokens", "split"]
    assert all(0 <= done <= total for _, done, total in seen)


# --------------------------------------------------------------------------------------------------------------
# Errors


def test_missing_input_files_raise_input_error(small_inputs: Any, tmp_path: Path, config: DatasetConfig) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="does not exist"):
        build_dataset(tmp_path / "nope.jsonl", small_inputs.instructions_file, out, config)
    with pytest.raises(InputError, match=r"instructions\.jsonl"):
        build_dataset(small_inputs.dags_file, tmp_path, out, config)  # a folder without instructions.jsonl
    with pytest.raises(InputError, match="does not exist"):
        build_dataset(small_inputs.dags_file, small_inputs.instructions_file, out, config, replay_path=tmp_path / "r")
    assert not out.exists()


def test_bad_json_line_raises_input_error(small_inputs: Any, tmp_path: Path, config: DatasetConfig) -> None:
    with small_inputs.instructions_file.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    with pytest.raises(InputError, match=r"instructions\.jsonl:7: not JSON"):
        build_dataset(small_inputs.dags_file, small_inputs.instructions_file, tmp_path / "out", config)


def test_bad_replay_rows_raise_input_error(small_inputs: Any, tmp_path: Path, config: DatasetConfig) -> None:
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"text": "no messages here"}\n', encoding="utf-8")
    cfg = config.model_copy(update={"replay_ratio": 1.0, "test_fraction": 0.0})
    with pytest.raises(InputError, match="messages"):
        build_dataset(small_inputs.dags_file, small_inputs.instructions_file, tmp_path / "out", cfg, replay_path=replay)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["missing folder", "empty folder", "uncached hub id"])
def test_bad_tokenizer_raises_tokenizer_error(
    small_inputs: Any, tmp_path: Path, config: DatasetConfig, kind: str
) -> None:
    name = {
        "missing folder": str(tmp_path / "no-such-tokenizer"),
        "empty folder": str(tmp_path / "in"),  # exists, holds only the jsonl inputs
        "uncached hub id": "airflow-net-tests/no-such-model",
    }[kind]
    with pytest.raises(TokenizerError, match="cannot load tokenizer"):
        build_dataset(
            small_inputs.dags_file,
            small_inputs.instructions_file,
            tmp_path / "out",
            config.model_copy(update={"tokenizer": name}),
        )
    assert not (tmp_path / "out").exists()
