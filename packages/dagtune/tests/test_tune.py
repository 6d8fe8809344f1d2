"""Training, resume, merge, GGUF export, quantisation and generation, on CPU with a tiny real model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dagtune
from dagdata import DEFAULT_CONTRACT, PromptContract
from dagtune import TrainConfig

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")


def config(tiny_model: Path, tiny_dataset: Path, out: Path, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "base_model": str(tiny_model),
        "dataset": tiny_dataset,
        "output_dir": out,
        "backend": "hf",
        "max_seq_length": 512,
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 5e-3,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_steps": 12,
        "warmup_steps": 0,
        "logging_steps": 1,
        "eval_steps": 6,
        "save_steps": 4,
        "seed": 0,
    }
    return TrainConfig.model_validate(base | overrides)


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dagtune.TrainResult:
    return dagtune.train(config(tiny_model, tiny_dataset, tmp_path_factory.mktemp("run")))


def test_loss_falls_and_run_folder_is_complete(trained: dagtune.TrainResult) -> None:
    assert trained.backend == "hf"
    assert trained.precision in ("bf16", "fp32")  # what `precision` (the config's default) resolved to here
    assert trained.steps == 12
    assert trained.first_loss is not None and trained.last_loss is not None
    assert trained.last_loss < trained.first_loss * 0.9
    run = trained.run_dir
    for name in ("config.json", "metrics.jsonl", "result.json", "loss.png", "adapter/adapter_config.json"):
        assert (run / name).is_file(), name
    rows = dagtune.read_metrics(run)
    final = [r for r in rows if "eval_loss" in r and r["step"] == 12]
    # Evaluated once at the end (the Trainer's own evaluation, read back rather than run twice).
    assert len(final) == 1 and trained.eval_loss == pytest.approx(final[0]["eval_loss"])
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_only_assistant_tokens_carry_loss(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    trainer, _ = dagtune.build_trainer(config(tiny_model, tiny_dataset, tmp_path))
    tokenizer = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0].tolist()
    ids = batch["input_ids"][0].tolist()
    learned = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    text = tokenizer.decode(learned)
    assert text.startswith("```python\n")  # the answer, in the contract's format...
    assert DEFAULT_CONTRACT.system[:30] not in text  # ...and not the system prompt
    assert "Target: Apache Airflow" not in text  # nor the user's request
    prompt_len = labels.index(next(label for label in labels if label != -100))
    assert prompt_len > 20


class _StopAt:
    """Stands for a kill: training stops right after step `step` was checkpointed."""

    def __init__(self, step: int) -> None:
        self.step = step

    def callback(self) -> Any:
        from transformers import TrainerCallback

        step = self.step

        class Stop(TrainerCallback):  # type: ignore[misc]
            def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if state.global_step >= step:
                    raise KeyboardInterrupt

        return Stop()


def test_kill_and_resume(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    settings = config(tiny_model, tiny_dataset, tmp_path, max_steps=8, save_steps=4, eval_steps=100)
    with pytest.raises(KeyboardInterrupt):
        dagtune.train(settings, callbacks=[_StopAt(4).callback()])
    assert (tmp_path / "checkpoints" / "checkpoint-4").is_dir()
    resumed = dagtune.train(settings, resume=True)
    assert resumed.steps == 8
    steps = [r["step"] for r in dagtune.read_metrics(tmp_path) if "loss" in r]
    assert steps[:4] == [1, 2, 3, 4] and steps[-1] == 8  # steps 5..8 came after the resume
    with pytest.raises(dagtune.ConfigError, match="differs"):
        dagtune.train(settings.model_copy(update={"learning_rate": 1e-3}), resume=True)


def test_a_dataset_longer_than_max_seq_length_is_refused_before_training(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    import shutil

    dataset = tmp_path / "dataset"
    shutil.copytree(tiny_dataset, dataset)
    # What dagdata's manifest says of its longest conversation.
    manifest = {"contract": DEFAULT_CONTRACT.model_dump(mode="json"), "summary": {"longest": 900}}
    (dataset / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(dagtune.ConfigError, match=r"up to 900 tokens, more than max_seq_length 512"):
        dagtune.train(config(tiny_model, dataset, tmp_path / "run"))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unsloth_is_refused_without_cuda(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(dagtune.ConfigError, match="CUDA"):
        dagtune.resolve_backend(config(tiny_model, tiny_dataset, tmp_path, backend="unsloth"))


def test_config_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  base_model: some/model\n  max_steps: 5\n")
    loaded = dagtune.load_config(path, ["learning_rate=1e-4", "lora_r=32"])
    assert (loaded.base_model, loaded.max_steps, loaded.learning_rate, loaded.lora_r) == ("some/model", 5, 1e-4, 32)
    assert dagtune.TrainConfig().lora_alpha == 16 and dagtune.TrainConfig().gradient_accumulation_steps == 4
    with pytest.raises(dagtune.ConfigError, match="lora_rank"):
        dagtune.load_config(None, ["lora_rank=4"])


@pytest.fixture(scope="module")
def exported(trained: dagtune.TrainResult) -> dagtune.ExportResult:
    return dagtune.export(trained.run_dir, quant="q4_k_m", verify_tokens=12)


def test_export_matches_pytorch_and_reports_real_types(exported: dagtune.ExportResult) -> None:
    assert exported.tokenizer_identical
    assert exported.f16_agreement.identical_prompts == exported.f16_agreement.prompts
    assert exported.f16_agreement.near_ties == 0
    assert exported.f16_types.keys() <= {"F16", "F32"}
    quant = exported.quantized
    assert quant is not None
    # Rows of 64 are not multiples of 256: llama.cpp used other types, and the report says so.
    assert quant.fallback
    assert "Q4_K" not in quant.tensor_types
    assert exported.quant_agreement is not None
    card = exported.card.read_text()
    assert "base_model:" in card and "tensor types" in card


def test_gguf_carries_tokenizer_template_and_contract(exported: dagtune.ExportResult) -> None:
    import llama_cpp

    meta = dagtune.read_metadata(exported.f16)
    assert meta["tokenizer.ggml.pre"] == "qwen2"
    assert PromptContract.from_metadata(meta) == DEFAULT_CONTRACT
    llm = llama_cpp.Llama(model_path=str(exported.f16), n_ctx=512, verbose=False)
    template = llm.metadata["tokenizer.chat_template"]
    from jinja2 import Template

    rendered = Template(template).render(
        messages=DEFAULT_CONTRACT.messages("Copy a file", "2.10"), add_generation_prompt=True
    )
    assert rendered.endswith("<|im_start|>assistant\n")
    assert "Target: Apache Airflow 2.10" in rendered
    out = llm.create_chat_completion(messages=DEFAULT_CONTRACT.messages("Copy a file", "2.10"), max_tokens=8)
    assert out["usage"]["completion_tokens"] > 0


def test_token_ids_are_identical(trained: dagtune.TrainResult, exported: dagtune.ExportResult) -> None:
    texts = [
        "x = 1  # café 日本",
        "from airflow import DAG\n\n\twith DAG('a') as d:\n",
        "<|im_start|>user\nhi<|im_end|>",
    ]
    assert dagtune.tokenizer_identity(exported.merged_dir, exported.f16, texts)


def test_unknown_pre_tokenizer_is_refused() -> None:
    with pytest.raises(dagtune.ExportError, match="pre-tokenizer"):
        dagtune.pre_tokenizer_name({"pre_tokenizer": {"type": "Whitespace"}})
    assert (
        dagtune.pre_tokenizer_name(
            json.loads('{"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}}')
        )
        == "gpt-2"
    )


def test_llama_family_converts_and_decodes_like_pytorch(tmp_path: Path) -> None:
    """Llama's q/k weights are stored permuted for rotary embeddings: a wrong permutation still loads,
    but decodes differently. SmolLM2 is this family; a tiny one with a GPT-2 style tokenizer stands in."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from dagdata import CHATML_TEMPLATE
    from dagtune.export import Greedy, _agreement, _greedy_gguf

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(["from airflow import DAG 12345 schedule daily"] * 50, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        initializer_range=0.2,
        rope_theta=100000.0,  # SmolLM2's; transformers 5 stores it under rope_parameters
    )
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).to(torch.float16).to(torch.float32)  # weights exactly representable in f16
    model.save_pretrained(tmp_path)
    gguf_path = dagtune.convert(tmp_path, tmp_path / "llama.gguf")
    assert dagtune.read_metadata(gguf_path)["tokenizer.ggml.pre"] == "smollm"
    assert dagtune.tokenizer_identity(tmp_path, gguf_path, ["DAG 2024 x", "from airflow import DAG\n  a=1"])
    prompt = tokenizer("from airflow import DAG", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        reference = model.generate(torch.tensor([prompt]), max_new_tokens=10, min_new_tokens=10, do_sample=False)
    expected = reference[0, len(prompt) :].tolist()
    path = Greedy(tokens=expected, margins=[1.0] * len(expected))  # no near tie: an exact match is required
    assert _agreement([path], _greedy_gguf(gguf_path, [prompt], 10)).identical_prompts == 1


def test_full_fine_tuning_trains_every_weight_and_exports_without_a_merge(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    run = dagtune.train(
        config(tiny_model, tiny_dataset, tmp_path / "run", finetune="full", learning_rate=1e-3, max_steps=6)
    )
    assert run.last_loss is not None and run.first_loss is not None and run.last_loss < run.first_loss
    assert not (run.adapter_dir / "adapter_config.json").exists()  # a whole model, not an adapter
    before = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    after = AutoModelForCausalLM.from_pretrained(str(run.adapter_dir))
    changed = [n for n, p in after.named_parameters() if not torch.equal(p, dict(before.named_parameters())[n])]
    assert len(changed) == len(list(after.named_parameters()))  # every weight moved, embeddings included
    exported = dagtune.export(run.run_dir, quant="f16", verify_tokens=8)
    assert exported.tokenizer_identical
    # A tiny trained model has near-flat logits: a path may part where PyTorch's two best tokens were a near tie.
    assert exported.f16_agreement.agrees and exported.f16_agreement.near_ties <= 1


def test_top_layers_only_in_bf16_leaves_the_rest_as_it_was(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """`train_top_layers: 1` on the 2-block model: block 0 and the embeddings keep their weights, block 1 and the
    final norm move; bf16 autocast trains (the loss falls) and the saved weights stay fp32."""
    import torch
    from transformers import AutoModelForCausalLM

    settings = {"finetune": "full", "train_top_layers": 1, "precision": "bf16", "learning_rate": 1e-3}
    run = dagtune.train(config(tiny_model, tiny_dataset, tmp_path / "run", max_steps=6, **settings))
    assert run.last_loss is not None and run.first_loss is not None and run.last_loss < run.first_loss
    before = dict(AutoModelForCausalLM.from_pretrained(str(tiny_model)).named_parameters())
    after = dict(AutoModelForCausalLM.from_pretrained(str(run.adapter_dir)).named_parameters())
    moved = {name for name, p in after.items() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith(("model.layers.1.", "model.norm.")) for name in moved), sorted(moved)
    assert {n for n in after if n.startswith("model.layers.1.")} <= moved
    assert all(p.dtype == torch.float32 for p in after.values())


def test_top_layers_is_checked_against_the_model(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(dagtune.ConfigError, match="between 1 and 2"):
        dagtune.train(config(tiny_model, tiny_dataset, tmp_path / "a", finetune="full", train_top_layers=5))
    with pytest.raises(dagtune.ConfigError, match="between 1 and 2"):
        dagtune.train(config(tiny_model, tiny_dataset, tmp_path / "b", train_top_layers=0))


def test_lora_in_the_top_layers_only_adapts_them_and_merges(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """`train_top_layers: 1` with LoRA on the 2-block model: the adapter holds block 1's weights only (so the
    backward pass can stop there), the loss falls, and the export merges it into a model that moves block 1 alone."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    settings = {"train_top_layers": 1, "precision": "bf16", "learning_rate": 1e-2}
    run = dagtune.train(config(tiny_model, tiny_dataset, tmp_path / "run", max_steps=6, **settings))
    assert run.last_loss is not None and run.first_loss is not None and run.last_loss < run.first_loss
    adapted = load_file(str(run.adapter_dir / "adapter_model.safetensors"))
    assert adapted and all(".layers.1." in name for name in adapted), sorted(adapted)
    exported = dagtune.export(run.run_dir, quant="f16", verify_tokens=4)
    # The merged checkpoint is f16: compare it with the base in f16.
    before = dict(AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float16).named_parameters())
    after = AutoModelForCausalLM.from_pretrained(str(exported.merged_dir), dtype=torch.float16)
    merged = dict(after.named_parameters())
    moved = {name for name, p in merged.items() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith("model.layers.1.") for name in moved), sorted(moved)


def test_reading_a_bare_dataset_folder_leaves_it_as_it_was(tmp_path: Path) -> None:
    """A Hugging Face folder made elsewhere is known by the hash of its files: reading it must not add any (measured:
    `datasets` wrote four cache files into it, so a finished training ran again from scratch)."""
    from datasets import Dataset, DatasetDict

    from dagcore.manifest import identity
    from dagtune.train import load_splits

    rows = [
        {"messages": [{"role": "user", "content": f"request {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
        for i in range(12)
    ]
    DatasetDict({"train": Dataset.from_list(rows[2:]), "test": Dataset.from_list(rows[:2])}).save_to_disk(
        str(tmp_path / "data" / "hf")
    )
    before = identity(tmp_path / "data")
    config = TrainConfig(base_model="unused", dataset=tmp_path / "data", output_dir=tmp_path / "run")
    train, test = load_splits(config)
    assert train[0] == {"prompt": rows[2]["messages"][:1], "completion": rows[2]["messages"][1:]} and len(test) == 2
    assert identity(tmp_path / "data") == before


def test_agreement_forgives_a_path_that_parts_only_at_a_near_tie() -> None:
    from dagtune.export import TIE, Greedy, _agreement

    paths = [Greedy(tokens=[1, 2, 3], margins=[1.0, TIE / 5, 1.0]), Greedy(tokens=[4, 5, 6], margins=[1.0] * 3)]
    parted_at_tie = _agreement(paths, [[1, 9, 9], [4, 5, 6]])
    assert (parted_at_tie.identical_prompts, parted_at_tie.near_ties, parted_at_tie.agrees) == (1, 1, True)
    parted_clearly = _agreement(paths, [[1, 2, 3], [4, 9, 9]])
    assert (parted_clearly.identical_prompts, parted_clearly.near_ties, parted_clearly.agrees) == (1, 0, False)
    assert parted_clearly.matching_tokens == 4 / 6
