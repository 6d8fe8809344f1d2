"""Fixtures: a tokenizer trained here (never downloaded), and writers of dagmine / daginstruct inputs.

Everything is offline. The tokenizer is a tiny byte-level BPE trained once per session with the
`tokenizers` library, wrapped in `transformers.PreTrainedTokenizerFast` and saved with `save_pretrained`
to a folder that tests pass as `DatasetConfig(tokenizer=...)`. It ships no chat template, so dagdata
falls back to its ChatML template.

Code is generated from seeded random words so that two generated DAGs share few 5-token shingles
(far below any near-duplicate threshold) unless a test derives one from the other on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dagdata import DatasetConfig
from daginstruct import Instruction
from dagmine import DagRecord
from dagmine.models import Occurrence

# No hub access, ever: a tokenizer name that is not a local folder must fail, not download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]

_SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "qu", "sa", "do", "fi", "gu", "ha", "ja",
    "xe", "yo", "wu", "bi", "ce", "no", "ri", "mu",
]  # fmt: skip
_OPERATORS = ["BashOperator", "PythonOperator", "EmptyOperator", "SQLExecuteQueryOperator", "HttpSensor"]
_SHINGLE_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")


def word(rng: random.Random, syllables: int = 4) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def make_code(seed: int | str, tasks: int = 8) -> str:
    """A plausible Airflow DAG file whose names and commands come from `seed`: distinct seeds, distinct code."""
    rng = random.Random(f"code-{seed}")
    dag_name = word(rng, 5)
    lines = [
        "from __future__ import annotations",
        "",
        "import pendulum",
        "",
        "from airflow import DAG",
        "from airflow.operators.bash import BashOperator",
        "",
        f"with DAG(dag_id={dag_name!r}, start_date=pendulum.datetime(2021, 1, 1), schedule=None) as dag:",
    ]
    names = []
    for _ in range(tasks):
        name = word(rng)
        names.append(name)
        lines.append(
            f"    {name} = BashOperator(task_id={name!r}, bash_command='echo {word(rng)} {rng.randint(0, 99999)}')"
        )
    lines.append("    " + " >> ".join(names))
    return "\n".join(lines) + "\n"


def shingle_jaccard(a: str, b: str, size: int = 5) -> float:
    """Exact Jaccard of the 5-token shingle sets dagdata estimates with MinHash."""

    def shingles(code: str) -> set[str]:
        tokens = _SHINGLE_TOKEN.findall(code)
        return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def make_dag(
    code: str,
    path: str,
    version: str | None = "2.10.3",
    *,
    imports: list[str] | None = None,
    operators: list[str] | None = None,
) -> DagRecord:
    """A minimal valid DagRecord: one occurrence of `code` at `path` in the ref named after `version`."""
    ref = str(version) if version else "main"
    return DagRecord(
        id=hashlib.sha256(code.encode()).hexdigest()[:16],
        code=code,
        original_code=code,
        refs=[ref],
        airflow_versions=[version] if version else [],
        first_version=version,
        last_version=version,
        paths=[path],
        occurrences=[Occurrence(ref=ref, path=path, blob=hashlib.sha1(code.encode()).hexdigest())],
        operators=operators if operators is not None else ["BashOperator"],
        imports=imports if imports is not None else ["airflow", "airflow.operators.bash", "pendulum"],
        task_count=1,
    )


def make_instruction(
    dag: DagRecord | str,
    custom_id: str,
    text: str | None = None,
    *,
    style: str = "casual",
    airflow_version: str | None = None,
) -> Instruction:
    dag_id = dag if isinstance(dag, str) else dag.id
    return Instruction(
        custom_id=custom_id,
        dag_id=dag_id,
        style=style,
        text=text if text is not None else f"Please write a DAG for request {custom_id}.",
        airflow_version=airflow_version,
        backend="template",
        model="none",
    )


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """One JSON per line: pydantic models via model_dump_json(), anything else via json.dumps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row.model_dump_json() if hasattr(row, "model_dump_json") else json.dumps(row)) + "\n")
    return path


@dataclass
class Inputs:
    """A dags.jsonl / instructions.jsonl pair in a folder, and the records they hold."""

    folder: Path
    dags: list[DagRecord] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def dags_file(self) -> Path:
        return self.folder / "dags.jsonl"

    @property
    def instructions_file(self) -> Path:
        return self.folder / "instructions.jsonl"

    def write(self) -> Inputs:
        write_jsonl(self.dags_file, self.dags)
        write_jsonl(self.instructions_file, self.instructions)
        return self

    def code_of(self, dag_id: str) -> str:
        return next(d.code for d in self.dags if d.id == dag_id)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _training_corpus() -> list[str]:
    from dagdata import DEFAULT_CONTRACT

    texts = [DEFAULT_CONTRACT.system, DEFAULT_CONTRACT.user("Load the files every day.", "2.10.3")]
    texts += [make_code(f"corpus-{i}") for i in range(40)]
    texts += ["Please write a DAG that moves data from one bucket to another and reports back." * 3]
    return texts


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer (small vocab, ChatML special tokens), saved as a transformers folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_corpus(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    wrapped.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    folder = tmp_path_factory.mktemp("tokenizer")
    wrapped.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path) -> Any:
    """The saved tokenizer, loaded back the way a user of the dataset would (from the folder only)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)


@pytest.fixture
def config(tokenizer_dir: Path) -> DatasetConfig:
    """A config with the local tokenizer; tests derive variants with model_copy(update=...)."""
    return DatasetConfig(tokenizer=str(tokenizer_dir), max_tokens=4096)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under --import-mode=importlib)."""
    return SimpleNamespace(
        Inputs=Inputs,
        code=make_code,
        dag=make_dag,
        instruction=make_instruction,
        jaccard=shingle_jaccard,
        read_jsonl=read_jsonl,
        write_jsonl=write_jsonl,
    )
