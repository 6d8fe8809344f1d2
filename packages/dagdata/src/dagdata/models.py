"""Typed records of the dataset stage."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dagcore import AirflowVersion, PromptContract


class DatasetConfig(BaseModel):
    """How the dataset is built. Part of the manifest: a change rebuilds it."""

    model_config = ConfigDict(frozen=True)

    tokenizer: str = "Qwen/Qwen2.5-1.5B-Instruct"
    """The target model's tokenizer: a local folder, or a hub id already in the local cache."""
    max_tokens: int = 4096
    """Longest whole conversation (system + user + assistant), in the target tokenizer's tokens; longer is
    dropped, never truncated."""
    max_repair_tokens: int | None = None
    """Longest repair lesson (it holds a broken answer and the file: about twice a plain conversation); None: as
    `max_tokens`."""
    near_dup_threshold: float = 0.85
    """MinHash Jaccard over code shingles at or above which two DAGs count as near duplicates."""
    near_dup_policy: str = "keep_newest"
    """`keep_newest`: one DAG per near-duplicate cluster and Airflow major version; `group`: keep all."""
    num_perm: int = 128
    shingle: int = 5
    """Tokens per code shingle."""
    test_fraction: float = 0.1
    seed: int = 0
    replay_ratio: float = 0.0
    """Replay conversations added to train, as a fraction of the train set (0.1 = one per ten)."""
    contract: PromptContract = Field(default_factory=PromptContract)
    overlap_threshold: float = 0.5
    """A request whose word-3-gram Jaccard with an excluded (evaluation) request reaches this is dropped."""


class Conversation(BaseModel):
    """One training example: a user's request and the DAG that answers it, in ChatML messages."""

    id: str
    dag_id: str
    instruction_id: str
    style: str
    airflow_version: AirflowVersion | None
    """The Airflow release asked for; the user message states its series (`2.10`)."""
    request: str = ""
    """The user's words alone, so a model can be asked them through its own prompt contract."""
    messages: list[dict[str, str]]
    n_tokens: int = 0
    paths: list[str] = Field(default_factory=list)
    operators: list[str] = Field(default_factory=list)
    group: str = ""
    """Split group: a file's lineage joined with its near duplicates; a group never straddles splits."""
    source: str = "airflow"
    """`airflow` for mined DAGs, `replay` for mixed-in general conversations."""
    contract_version: str = ""

    @property
    def is_repair(self) -> bool:
        """A repair lesson (dagsynth writes their style as `repair:<kind of mistake>`)."""
        return self.style.startswith("repair")


class FilterCounts(BaseModel):
    joined: int = 0
    missing_dag: int = 0
    test_internals: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    too_long: int = 0
    evaluation_overlap: int = 0
    """Dropped because the request is (nearly) one of an evaluation set's (`exclude_requests`)."""
    kept: int = 0


class DatasetSummary(BaseModel):
    out_dir: Path
    skipped: bool
    train: int
    test: int
    replay: int
    composed: int = 0
    """Train conversations whose DAG was composed (dagsynth) rather than mined; composed files never enter test."""
    repairs: int = 0
    """Train conversations that are repair lessons (a broken answer, the judge's words, the file), among `composed`."""
    filters: FilterCounts
    max_cross_split_similarity: float
    """Largest estimated Jaccard between a test DAG and a train DAG (0 when no candidate pair exists)."""
    longest: int

    @property
    def test_file(self) -> Path:
        """The held-out split as JSONL: each row's `request` and `airflow_version`, and its messages."""
        return self.out_dir / "test.jsonl"

    @property
    def train_file(self) -> Path:
        return self.out_dir / "train.jsonl"
