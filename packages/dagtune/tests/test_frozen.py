"""LoRA under a CPU's bf16 autocast keeps the frozen base's linear weights in bf16: the same loss and gradients."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import dagtune
from dagtune import TrainConfig


def _trainer(tiny_model: Path, dataset: Path, out: Path, **overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "base_model": str(tiny_model), "dataset": dataset, "output_dir": out, "backend": "hf", "finetune": "lora",
        "max_seq_length": 512, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
        "gradient_checkpointing": False, "max_steps": 1, "precision": "bf16", **overrides,
    }  # fmt: skip
    trainer, _ = dagtune.build_trainer(TrainConfig(**settings))
    return trainer


def _loss_and_grads(trainer: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model = trainer.model
    model.train()
    model.zero_grad(set_to_none=True)
    with trainer.accelerator.autocast():
        loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_frozen_weights_in_bf16_give_the_same_loss_and_gradients(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cast = _trainer(tiny_model, tiny_dataset, tmp_path / "cast")
    inner = cast.model.get_base_model()
    # The tiny model ties its LM head to the input embeddings: the head gets a bf16 copy, the embeddings stay fp32.
    assert inner.lm_head.weight.dtype == torch.bfloat16
    assert inner.get_input_embeddings().weight.dtype == torch.float32
    frozen = {n: p.dtype for n, p in cast.model.named_parameters() if not p.requires_grad}
    trained = {n: p.dtype for n, p in cast.model.named_parameters() if p.requires_grad}
    assert trained and set(trained.values()) == {torch.float32}  # the adapters and their optimiser stay fp32
    assert {d for n, d in frozen.items() if n.endswith("proj.base_layer.weight")} == {torch.bfloat16}
    assert {d for n, d in frozen.items() if "norm" in n} == {torch.float32}

    monkeypatch.setattr(sys.modules["dagtune.train"], "frozen_linears_to", lambda model, dtype: 0)
    plain = _trainer(tiny_model, tiny_dataset, tmp_path / "plain")
    assert plain.model.get_base_model().lm_head.weight.dtype == torch.float32
    with torch.no_grad():  # the same adapter draw in both
        weights = dict(cast.model.named_parameters())
        for name, param in plain.model.named_parameters():
            if param.requires_grad:
                param.copy_(weights[name])

    batch = cast.data_collator([cast.train_dataset[i] for i in range(4)])
    loss, grads = _loss_and_grads(cast, batch)
    expected_loss, expected = _loss_and_grads(plain, batch)
    assert torch.equal(loss, expected_loss)
    assert grads.keys() == expected.keys() and grads
    for name, grad in grads.items():
        assert torch.equal(grad, expected[name]), name


def test_a_lora_run_with_frozen_bf16_weights_trains_evaluates_and_saves_the_adapter(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    config = TrainConfig(
        base_model=str(tiny_model), dataset=tiny_dataset, output_dir=tmp_path / "run", backend="hf", finetune="lora",
        max_seq_length=512, per_device_train_batch_size=2, gradient_accumulation_steps=1, max_steps=2,
        eval_steps=1, logging_steps=1, precision="bf16", gradient_checkpointing=False,
    )  # fmt: skip
    result = dagtune.train(config)
    assert result.eval_loss is not None and result.eval_loss > 0
    from safetensors.torch import load_file

    saved = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert saved and all("lora_" in name for name in saved)  # the base's bf16 copies never reach the disk
    assert {t.dtype for t in saved.values()} == {torch.float32}


def test_unsloth_refuses_another_attention_kernel(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    from dagtune.exceptions import ConfigError
    from dagtune.train import _model_for

    config = TrainConfig(base_model=str(tiny_model), dataset=tiny_dataset, output_dir=tmp_path, attention="eager")
    with pytest.raises(ConfigError, match="attention: default"):
        _model_for(config, "unsloth")  # before unsloth is imported: it need not be installed
