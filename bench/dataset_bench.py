"""Dataset build benchmark: 20,000 synthetic conversations through every filter, dedup and the split.

    uv run python bench/dataset_bench.py [--records 20000]

Synthetic DAGs are built from templates (varied operators, task counts, schedules, docstrings; some
near duplicates, some exact duplicates, some over-long, some importing test helpers), each with three
requests. A byte-level BPE tokenizer is trained locally (the build never downloads). Prints, per
stage, seconds and records/s, the whole build time against the 60 s target, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import dagdata

console = Console(width=160)
OPERATORS = [
    "BashOperator",
    "PythonOperator",
    "EmptyOperator",
    "S3CreateBucketOperator",
    "BigQueryInsertJobOperator",
    "SQLExecuteQueryOperator",
    "EmailOperator",
    "HttpOperator",
    "SlackAPIPostOperator",
    "DockerOperator",
]
SCHEDULES = ['"@daily"', '"@hourly"', "None", '"0 6 * * *"', "timedelta(days=1)"]


def synthetic_dag(i: int, rng: random.Random) -> str:
    ops = rng.sample(OPERATORS, rng.randint(1, 4))
    tasks = rng.randint(2, 25 if i % 97 else 400)  # every 97th DAG is huge: over the token limit
    lines = [
        f'"""Pipeline {i}: moves data for team {rng.randint(1, 50)} and reports on it."""',
        "",
        "from datetime import datetime, timedelta",
        "",
        "from airflow import DAG",
    ]
    lines += [f"from airflow.operators.op{j} import {op}" for j, op in enumerate(ops)]
    if i % 101 == 0:
        lines.append("from tests.system.utils import get_test_run")
    lines += [
        "",
        f'with DAG(dag_id="pipeline_{i}", schedule={rng.choice(SCHEDULES)}, '
        f"start_date=datetime(2024, 1, {1 + i % 28}), catchup=False) as dag:",
    ]
    for t in range(tasks):
        op = ops[t % len(ops)]
        lines.append(f'    t{t} = {op}(task_id="step_{t}_{rng.randint(0, 10**6)}", retries={rng.randint(0, 3)})')
    lines.append("    " + " >> ".join(f"t{t}" for t in range(min(tasks, 12))))
    return "\n".join(lines) + "\n"


def write_inputs(folder: Path, n_conversations: int, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    n_dags = n_conversations // 3
    versions = ["2.7.3", "2.8.4", "2.9.3", "2.10.5", "3.0.6", "3.1.8"]
    dags, instructions = [], []
    codes: list[str] = []
    for i in range(n_dags):
        if i % 10 == 3 and codes:  # near duplicate of an earlier DAG: one renamed task
            code = codes[-1].replace("step_0_", "first_step_", 1)
        elif i % 50 == 7 and codes:  # exact copy under another path
            code = codes[-1]
        else:
            code = synthetic_dag(i, rng)
        codes.append(code)
        dag_id = f"{i:016x}"
        imports = ["airflow", "datetime"] + (["tests.system.utils"] if "tests.system" in code else [])
        version = versions[i % len(versions)]
        dags.append(
            {
                "id": dag_id,
                "code": code,
                "original_code": code,
                "refs": [version],
                "airflow_versions": [version],
                "first_version": version,
                "last_version": version,
                "paths": [f"dags/team_{i % 300}/pipeline_{i}.py"],
                "occurrences": [{"ref": version, "path": f"dags/team_{i % 300}/pipeline_{i}.py", "blob": dag_id}],
                "imports": imports,
                "operators": sorted({op for op in OPERATORS if op in code}),
                "dag_ids": [f"pipeline_{i}"],
            }
        )
        for style in ("terse", "detailed", "business"):
            instructions.append(
                {
                    "custom_id": f"{dag_id}-{style}",
                    "dag_id": dag_id,
                    "style": style,
                    "airflow_version": version,
                    "text": f"Create an Airflow {version[:4]} DAG pipeline_{i} that runs {style} work for {i % 50}.",
                    "backend": "template",
                    "model": "template-v1",
                }
            )
    dags_file, instructions_file = folder / "dags.jsonl", folder / "instructions.jsonl"
    dags_file.write_text("".join(json.dumps(d) + "\n" for d in dags))
    instructions_file.write_text("".join(json.dumps(x) + "\n" for x in instructions))
    return dags_file, instructions_file


def train_tokenizer(folder: Path, sample: list[str]) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000,
        special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(sample, trainer)
    path = folder / "tokenizer"
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>").save_pretrained(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/dataset.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dags_file, instructions_file = write_inputs(folder, args.records)
        sample = [json.loads(line)["code"] for line in dags_file.read_text().splitlines()[:500]]
        tokenizer = train_tokenizer(folder, sample)
        marks: list[tuple[str, float, int]] = []
        start = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            marks.append((stage, time.perf_counter(), total))

        config = dagdata.DatasetConfig(tokenizer=str(tokenizer))
        summary = dagdata.build_dataset(dags_file, instructions_file, folder / "out", config, progress=progress)
        total = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(title=f"dagdata build from {args.records:,} synthetic conversations (one run)")
    for column in ("stage", "records in", "seconds", "records/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    previous = start
    rows = []
    for stage, moment, count in marks:
        seconds = moment - previous
        previous = moment
        rows.append({"stage": stage, "records": count, "seconds": seconds})
        table.add_row(stage, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}" if seconds > 0 else "-")
    table.add_row("whole build", f"{args.records:,}", f"{total:.2f}", f"{args.records / total:,.0f}")
    console.print(table)
    console.print(
        f"target: whole build under 60 s -> {total:.1f} s ({total / 60:.2f}x of the budget); "
        f"peak memory {peak_mib:,.0f} MiB; train {summary.train:,}, test {summary.test:,}; "
        f"filters {summary.filters.model_dump()}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "records": args.records,
                "total_seconds": total,
                "peak_mib": peak_mib,
                "stages": rows,
                "summary": summary.model_dump(mode="json"),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
