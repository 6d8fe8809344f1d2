"""Fine-tune with LoRA/QLoRA: Unsloth on CUDA, TRL SFTTrainer + PEFT elsewhere. Resumable; metrics as JSONL."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dagcore import Manifest, finished, read_manifest, stamp, write_manifest
from dagdata import PromptContract
from dagtune._alloc import keep_freed_memory
from dagtune._extras import UNSLOTH_INSTALL
from dagtune._frozen import frozen_linears_to
from dagtune._fused import labelled_positions_only
from dagtune._load import load_model, load_tokenizer
from dagtune._prefix import prefix_sharing
from dagtune._vocab import head_vocab
from dagtune.config import TrainConfig
from dagtune.contract import CONTRACT_FILE, dataset_contract
from dagtune.exceptions import ConfigError

METRICS = "metrics.jsonl"


class TrainResult(BaseModel):
    run_dir: Path
    adapter_dir: Path
    backend: str
    precision: str = ""
    """What `precision` resolved to on this machine (`auto` is bf16 where the CPU multiplies bf16 natively): the
    same config trains in bf16 on one CPU and fp32 on another, so a run says which it was."""
    steps: int
    train_loss: float | None
    eval_loss: float | None
    first_loss: float | None
    last_loss: float | None
    loss_plot: Path | None = None
    """`loss.png` in the run folder, when anything was logged."""
    contract: PromptContract
    """The prompt contract of the data trained on; `export` writes it into the GGUF."""
    head_vocab: int | None = None
    """How many tokens the LM head scored in training (`head_vocab: seen`); None: the whole vocabulary."""
    skipped: bool = False
    """True when the run folder already held this exact run: nothing was trained."""


def resolve_backend(config: TrainConfig) -> str:
    import torch

    cuda = torch.cuda.is_available()
    if config.backend == "unsloth":
        if not cuda:
            raise ConfigError("the unsloth backend needs a CUDA GPU: use --backend hf (TRL + PEFT) here")
        if importlib.util.find_spec("unsloth") is None:
            raise ConfigError(f"install Unsloth to train with it: `{UNSLOTH_INSTALL}` (CUDA only)")
        return "unsloth"
    if config.backend == "auto":
        return "unsloth" if cuda and importlib.util.find_spec("unsloth") is not None else "hf"
    return "hf"


def bf16_native() -> bool:
    """The device trains in bfloat16 at full speed: a CUDA GPU with bf16, or a CPU oneDNN runs bf16 on."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())  # type: ignore[no-untyped-call]


def resolve_precision(config: TrainConfig) -> str:
    if config.precision == "auto":
        return "bf16" if bf16_native() else "fp32"
    return config.precision


def top_blocks(model: Any, top: int) -> list[int]:
    """The indices of the top `top` transformer blocks, checked against the model."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ConfigError(f"train_top_layers needs a decoder with model.layers; {type(model).__name__} has none")
    if not 0 < top <= len(layers):
        raise ConfigError(f"train_top_layers must be between 1 and {len(layers)} for this model, not {top}")
    return list(range(len(layers) - top, len(layers)))


def freeze_below(model: Any, top: int) -> int:
    """Train only the top `top` blocks and the final norm; returns how many parameters stay trainable."""
    layers = model.model.layers
    trained = [layers[i] for i in top_blocks(model, top)] + [getattr(model.model, "norm", None)]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for module in trained:
        for parameter in module.parameters() if module is not None else []:
            parameter.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def to_prompt_completion(dataset: Any) -> Any:
    """dagdata's ChatML rows -> TRL's conversational prompt/completion form: loss on the answer only.

    This form works with any chat template (TRL's `assistant_only_loss` needs templates it knows).
    """

    def split(row: dict[str, Any]) -> dict[str, Any]:
        messages = row["messages"]
        return {"prompt": messages[:-1], "completion": messages[-1:]}

    # In memory: `datasets` would otherwise write its cache files into the dataset's own folder, which changes the
    # folder's identity (a bare HF folder is known by the hash of its files), so a finished run would run again.
    return dataset.map(split, remove_columns=dataset.column_names, keep_in_memory=True)


def batches_by_opening(dataset: Any, batch: int, seed: int) -> Any:
    """`dataset` (prompt/completion rows) reordered so that every `batch` consecutive rows open with the same first
    message, those batches in a random order drawn from `seed`; the rows left over from each opening's last batch
    come at the end, mixed. Read in order (the Trainer's `sequential` sampling), each batch shares one opening."""
    import random

    rng = random.Random(seed)
    order = list(range(len(dataset)))
    rng.shuffle(order)
    prompts = dataset["prompt"]
    by_opening: dict[str, list[int]] = {}
    for index in order:
        by_opening.setdefault(json.dumps(prompts[index][0], sort_keys=True), []).append(index)
    chunks = [rows[i : i + batch] for rows in by_opening.values() for i in range(0, len(rows), batch)]
    full = [chunk for chunk in chunks if len(chunk) == batch]
    rng.shuffle(full)
    rest = [index for chunk in chunks if len(chunk) < batch for index in chunk]
    return dataset.select([index for chunk in full for index in chunk] + rest)


def load_splits(config: TrainConfig) -> tuple[Any, Any]:
    from datasets import load_from_disk

    folder = config.dataset / "hf" if (config.dataset / "hf").is_dir() else config.dataset
    if not folder.is_dir():
        raise ConfigError(f"no dataset at {config.dataset}: run `airflow-net dataset` first")
    data = load_from_disk(str(folder))
    train = to_prompt_completion(data["train"])
    if config.batch_by_opening:
        train = batches_by_opening(train, config.per_device_train_batch_size, config.seed)
    test = data.get("test")
    if test is not None and len(test):
        test = to_prompt_completion(test.select(range(min(len(test), config.max_eval_samples))))
    else:
        test = None
    return train, test


def last_checkpoint(folder: Path) -> Path | None:
    checkpoints = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1])) if checkpoints else None


def _metrics_callback(path: Path) -> Any:
    from transformers import TrainerCallback

    class WriteMetrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")

    return WriteMetrics()


def _model_for(config: TrainConfig, backend: str) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config or None when the model already carries its adapters)."""
    import torch
    from peft import LoraConfig

    if backend == "unsloth" and config.finetune == "full":
        raise ConfigError("full fine-tuning runs on the hf backend: set backend: hf (or finetune: lora)")
    if backend == "unsloth" and config.attention != "default":
        raise ConfigError("unsloth picks its own attention kernels: set attention: default (or backend: hf)")
    if backend == "unsloth":
        os.environ.setdefault("UNSLOTH_DISABLE_CPU_FALLBACK", "1")
        from unsloth import FastLanguageModel  # type: ignore[import-not-found]

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=config.base_model, max_seq_length=config.max_seq_length, load_in_4bit=config.load_in_4bit
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            layers_to_transform=top_blocks(model, config.train_top_layers) if config.train_top_layers else None,
            bias="none",
            use_gradient_checkpointing="unsloth",
            random_state=config.seed,
        )
        return model, tokenizer, None
    cuda = torch.cuda.is_available()
    quantization = None
    if cuda and config.load_in_4bit:
        try:
            from transformers import BitsAndBytesConfig
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError("4-bit QLoRA needs bitsandbytes: install `dagtune[qlora]`") from e
        quantization = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    dtype = torch.bfloat16 if cuda else torch.float32
    attention = None if config.attention == "default" else config.attention
    model = load_model(config.base_model, dtype=dtype, quantization_config=quantization, attention=attention)
    tokenizer = load_tokenizer(config.base_model)
    if config.finetune == "full":
        if config.train_top_layers is not None:
            freeze_below(model, config.train_top_layers)
            if config.gradient_checkpointing:
                # Recomputed blocks get gradients only when their input asks for one; the frozen blocks'
                # output does not, so the embeddings' output is made to.
                model.enable_input_require_grads()
        return model, tokenizer, None
    # LoRA in the top blocks only: no block below holds a trained weight, so the backward pass stops there too.
    blocks = top_blocks(model, config.train_top_layers) if config.train_top_layers is not None else None
    present = {name.split(".")[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.target_modules if t in present]
    if not targets:
        raise ConfigError(f"none of {config.target_modules} is a module of {config.base_model}")
    peft = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        layers_to_transform=blocks,
        task_type="CAUSAL_LM",
    )
    return model, tokenizer, peft


def build_trainer(config: TrainConfig, *, callbacks: list[Any] | None = None) -> tuple[Any, str]:
    import torch
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    backend = resolve_backend(config)
    if config.batch_by_opening and not config.shared_prefix:
        raise ConfigError("batch_by_opening only pays with shared_prefix: set shared_prefix: true, or drop it")
    if config.head_vocab != "full" and not config.shared_prefix:
        raise ConfigError("head_vocab: seen scores in the shared_prefix step: set shared_prefix: true, or drop it")
    run = config.output_dir
    run.mkdir(parents=True, exist_ok=True)
    train_data, eval_data = load_splits(config)
    model, tokenizer, peft = _model_for(config, backend)
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(run / "checkpoints"),
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler_type,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if eval_data is not None else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        max_length=config.max_seq_length,
        gradient_checkpointing=config.gradient_checkpointing,
        completion_only_loss=True,
        report_to=[],
        use_cpu=not cuda,
        bf16=resolve_precision(config) == "bf16",
        fp16=False,
        dataloader_num_workers=0,
        # batches_by_opening has ordered the rows batch by batch; a shuffle would mix the batches again.
        train_sampling_strategy="sequential" if config.batch_by_opening else "random",
    )
    trainer_class: type = SFTTrainer
    if config.shared_prefix:
        if backend != "hf":
            raise ConfigError("shared_prefix runs on the hf backend: set backend: hf, or shared_prefix: false")
        if config.gradient_checkpointing:
            raise ConfigError(
                "shared_prefix keeps the shared opening's keys and values, which gradient checkpointing drops: set "
                "gradient_checkpointing: false, or shared_prefix: false"
            )
        trainer_class = prefix_sharing(SFTTrainer)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[_metrics_callback(run / METRICS), *(callbacks or [])],
    )
    if config.head_vocab == "seen":
        size = trainer.model.get_output_embeddings().weight.shape[0]
        rows = trainer.train_dataset["input_ids"]
        trainer.head_vocab = head_vocab(trainer.processing_class, rows, size, config.head_corpus)
    if peft is not None and not cuda and resolve_precision(config) == "bf16":
        frozen_linears_to(trainer.model, torch.bfloat16)  # cast once, not in every forward: dagtune._frozen
    return trainer, backend


def _stamp(config: TrainConfig) -> Manifest:
    """Paths are left out of the config: the data and the base model count by their identity, not where they lie."""
    settings = config.model_dump(mode="json", exclude={"output_dir", "dataset", "base_model", "head_corpus"})
    if config.head_vocab == "full":
        del settings["head_vocab"]  # as runs made before the field was: their folders stay finished
    inputs: dict[str, Path | str] = {"dataset": config.dataset, "base_model": config.base_model}
    if config.head_corpus is not None:
        inputs["head_corpus"] = config.head_corpus
    return stamp("train", "dagtune", inputs, settings)


def _check_lengths(config: TrainConfig) -> None:
    """Refuse a dataset whose conversations are longer than `max_seq_length`: the trainer would cut their ends,
    which are the answers (a cut file teaches stopping mid-file). dagdata's manifest says the longest."""
    manifest = config.dataset / "manifest.json"
    try:
        longest = int(json.loads(manifest.read_text(encoding="utf-8"))["summary"]["longest"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # a dataset made elsewhere: nothing recorded to check against
    if longest > config.max_seq_length:
        raise ConfigError(
            f"{config.dataset} holds conversations of up to {longest} tokens, more than max_seq_length "
            f"{config.max_seq_length}: their answers would be cut. Set max_seq_length to at least {longest}, or "
            "rebuild the dataset with a lower max_tokens"
        )


def resumable(config: TrainConfig) -> bool:
    """The run folder holds a checkpoint of an unfinished run of this very config, data and base model."""
    started = read_manifest(config.output_dir)
    return (
        started is not None
        and not started.complete
        and started.fingerprint == _stamp(config).fingerprint
        and last_checkpoint(config.output_dir / "checkpoints") is not None
    )


def train(
    config: TrainConfig, *, resume: bool = False, force: bool = False, callbacks: list[Any] | None = None
) -> TrainResult:
    """Train into `config.output_dir`: config.json, contract.json, metrics.jsonl, checkpoints/, adapter/, loss.png,
    result.json, and last manifest.json. A no-op when the folder holds a finished run of the same config, data and
    base model (unless `force`)."""
    run = config.output_dir
    expected = _stamp(config)
    if not force and (done := finished(run, expected)) is not None:
        # Paths as they are now: the folder may have moved since.
        plot = run / "loss.png"
        here = {"run_dir": run, "adapter_dir": run / "adapter", "loss_plot": plot if plot.is_file() else None}
        return TrainResult.model_validate({**done.result, **here, "skipped": True})
    saved = run / "config.json"
    if resume and saved.is_file():
        previous = TrainConfig.model_validate_json(saved.read_text(encoding="utf-8"))
        if previous.model_dump(exclude={"max_steps", "output_dir"}) != config.model_dump(
            exclude={"max_steps", "output_dir"}
        ):
            raise ConfigError(f"--resume with a config that differs from {saved}: resume with the same config")
    contract = dataset_contract(config.dataset)
    _check_lengths(config)
    run.mkdir(parents=True, exist_ok=True)
    if not resume:
        # Checkpoints of another run would be taken for this one's by a later resume.
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        (run / METRICS).unlink(missing_ok=True)
    write_manifest(run, expected)  # unfinished: marks the checkpoints as this run's
    saved.write_text(config.model_dump_json(indent=2), encoding="utf-8")
    (run / CONTRACT_FILE).write_text(contract.model_dump_json(indent=2), encoding="utf-8")
    import torch

    cpu = not torch.cuda.is_available()
    with keep_freed_memory(enabled=cpu), labelled_positions_only(enabled=cpu):
        trainer, backend = build_trainer(config, callbacks=callbacks)
        checkpoint = last_checkpoint(run / "checkpoints") if resume else None
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        adapter = run / "adapter"
        trainer.save_model(str(adapter))
        trainer.processing_class.save_pretrained(str(adapter))
        eval_loss = None
        if trainer.eval_dataset is not None:
            eval_loss = final_eval_loss(trainer.state)
            if eval_loss is None:
                eval_loss = float(trainer.evaluate()["eval_loss"])
    losses = [r["loss"] for r in read_metrics(run) if "loss" in r]
    result = TrainResult(
        run_dir=run,
        adapter_dir=adapter,
        backend=backend,
        precision=resolve_precision(config),
        steps=int(trainer.state.global_step),
        train_loss=float(output.training_loss) if output.training_loss is not None else None,
        eval_loss=eval_loss,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        loss_plot=plot_loss(run),
        contract=contract,
        head_vocab=len(vocab) if (vocab := getattr(trainer, "head_vocab", None)) is not None else None,
    )
    (run / "result.json").write_text(result.model_dump_json(indent=2, exclude={"skipped"}), encoding="utf-8")
    write_manifest(run, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    return result


def final_eval_loss(state: Any) -> float | None:
    """The eval loss the Trainer logged at its last step, if it evaluated there (it does at the end of a run with a
    step-based eval strategy): evaluating again would cost as long for the same number."""
    for row in reversed(state.log_history):
        if "eval_loss" in row and row.get("step") == state.global_step:
            return float(row["eval_loss"])
    return None


def read_metrics(run: Path) -> list[dict[str, Any]]:
    path = run / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss(run: Path) -> Path | None:
    rows = read_metrics(run)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        ax.plot(*zip(*evals, strict=True), marker="o", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    path = run / "loss.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
