"""On a CPU the fused LM head scores the answer's positions only, and the loss and gradients stay what they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import dagtune
from dagtune import TrainConfig
from dagtune._fused import labelled_positions_only


def _loss_and_grads(trainer: Any, batch: dict[str, Any]) -> tuple[float, dict[str, torch.Tensor]]:
    model = trainer.model
    model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


def test_only_labelled_positions_are_scored_with_the_same_loss_and_gradients(
    tiny_model: Path, tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trl.trainer.utils as fused

    config = TrainConfig(
        base_model=str(tiny_model), dataset=tiny_dataset, output_dir=tmp_path, backend="hf", finetune="full",
        max_seq_length=512, per_device_train_batch_size=2, max_steps=1,
    )  # fmt: skip
    trainer, _ = dagtune.build_trainer(config)
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    positions = batch["labels"][:, 1:].numel()
    assert 0 < labelled < positions  # prompts (and padding) carry no label

    rows: list[int] = []
    apply = fused._ChunkedLogProbFunction.apply
    monkeypatch.setattr(fused._ChunkedLogProbFunction, "apply", lambda h, *a: rows.append(len(h)) or apply(h, *a))
    every_loss, every_grads = _loss_and_grads(trainer, batch)
    with labelled_positions_only() as active:
        assert active
        only_loss, only_grads = _loss_and_grads(trainer, batch)
    assert rows == [positions, labelled]
    assert only_loss == pytest.approx(every_loss, rel=1e-5)
    assert every_grads.keys() == only_grads.keys() and every_grads
    for name, grad in every_grads.items():
        torch.testing.assert_close(only_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # Closed, TRL is as it was.
    rows.clear()
    _loss_and_grads(trainer, batch)
    assert rows == [positions]


def test_it_is_off_where_asked() -> None:
    import trl.trainer.utils as fused

    original = fused._use_triton
    with labelled_positions_only(enabled=False) as active:
        assert not active and fused._use_triton is original
    assert fused._use_triton is original
