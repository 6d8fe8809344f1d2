"""The shared opening runs once per batch, and the loss and every gradient stay those of running each row whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import dagtune
from dagdata import DEFAULT_CONTRACT
from dagtune import TrainConfig
from dagtune._prefix import Row, group_rows, shared_prefix_step, unpad
from dagtune._vocab import HeadVocab, corpus_texts, head_vocab
from dagtune.exceptions import ConfigError
from dagtune.testing import SAMPLE_CODE

REQUESTS = ["Run a bash command every day.", "Extract then load, hourly.", "Say hello each morning."]


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Conversations for Airflow 2 and 3: two system messages (each version's import lines), so two openings."""
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("two-versions")
    rows = [
        {"id": f"r{i}-{version}", "messages": DEFAULT_CONTRACT.messages(request, version, code)}
        for i, (request, code) in enumerate(zip(REQUESTS, [*SAMPLE_CODE, SAMPLE_CODE[0]], strict=True))
        for version in ("2.10.3", "3.1.0")
    ]
    DatasetDict({"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:2])}).save_to_disk(
        str(folder / "hf")
    )
    return folder


def _settings(tiny_model: Path, dataset: Path, out: Path) -> dict[str, Any]:
    return {
        "base_model": str(tiny_model), "dataset": dataset, "output_dir": out, "backend": "hf",
        "max_seq_length": 512, "per_device_train_batch_size": 6, "gradient_accumulation_steps": 1,
        "gradient_checkpointing": False, "max_steps": 1, "precision": "fp32", "shared_prefix": True,
    }  # fmt: skip


def _trainer(tiny_model: Path, dataset: Path, out: Path, **overrides: Any) -> Any:
    trainer, _ = dagtune.build_trainer(TrainConfig(**{**_settings(tiny_model, dataset, out), **overrides}))
    return trainer


def _grads(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(("finetune", "attention"), [("full", "default"), ("lora", "default"), ("lora", "eager")])
def test_the_loss_and_every_gradient_are_those_of_whole_rows(
    finetune: str, attention: str, tiny_model: Path, two_versions: Path, tmp_path: Path
) -> None:
    # fp32: the Trainer's own forward is not under autocast until `train()` prepares the model.
    trainer = _trainer(tiny_model, two_versions, tmp_path, finetune=finetune, attention=attention)
    assert trainer.model.config._attn_implementation == ("sdpa" if attention == "default" else attention)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(6)])
    model = trainer.model
    model.train()

    model.zero_grad(set_to_none=True)
    whole = trainer.compute_loss(model, dict(batch))  # every row run whole, padded, the batch's token mean
    whole.backward()
    expected = _grads(model)

    model.zero_grad(set_to_none=True)
    causal = model.get_base_model() if finetune == "lora" else model
    labels = int((batch["labels"][:, 1:] != -100).sum())
    stats = shared_prefix_step(
        causal, dict(batch), divisor=labels, autocast=trainer.accelerator.autocast, backward=lambda x: x.backward()
    )
    shared = _grads(model)

    assert stats.labels == labels
    assert stats.loss_sum / labels == pytest.approx(float(whole), rel=1e-5)
    # Two openings (one per version's system message), each run once instead of three times.
    opening = len(trainer.processing_class.apply_chat_template(DEFAULT_CONTRACT.messages("x", "2.10.3", "y")[:1]))
    assert stats.saved >= 2 * 2 * opening
    assert stats.saved < stats.tokens
    assert expected.keys() == shared.keys() and expected
    for name, grad in expected.items():
        torch.testing.assert_close(shared[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_rows_group_by_what_they_share_and_never_past_the_first_scored_position() -> None:
    def row(ids: list[int], answer_from: int) -> Row:
        labels = [-100] * answer_from + ids[answer_from:]
        return Row(ids=torch.tensor(ids), labels=torch.tensor(labels))

    system_a, system_b = list(range(100, 140)), list(range(200, 240))
    a1 = row([*system_a, 1, 2, 3, 4, 5], 42)
    a2 = row([*system_a, 1, 2, 9, 9, 9], 43)
    b1 = row([*system_b, 7, 7, 7], 41)
    a3 = row([*system_a, 8, 8], 41)
    alone = row([1, 2, 3], 1)
    groups = group_rows([a1, b1, a2, alone, a3])
    assert [[id(r) for r in g.rows] for g in groups] == [[id(a1), id(a2), id(a3)], [id(b1)], [id(alone)]]
    # a1 and a2 share 42 tokens, but a1's position 41 scores its first label: 41. a3 may share only 40.
    assert groups[0].shared == 40
    assert groups[0].saved == 80 and groups[1].saved == 0


def test_a_trainer_step_with_shared_openings_trains(tiny_model: Path, two_versions: Path, tmp_path: Path) -> None:
    trainer = _trainer(
        tiny_model, two_versions, tmp_path, finetune="lora", max_steps=3, logging_steps=1, precision="auto"
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    moved = [n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved
    logged = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logged) == 3 and all(row["loss"] > 0 for row in logged)
    assert all(0 < row["prefix_tokens_saved"] < 1 for row in logged)


def test_shared_openings_refuse_gradient_checkpointing(tiny_model: Path, two_versions: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gradient_checkpointing: false"):
        _trainer(tiny_model, two_versions, tmp_path, gradient_checkpointing=True)


def test_batches_by_opening_put_one_opening_in_each_batch() -> None:
    from datasets import Dataset

    from dagtune.train import batches_by_opening

    def prompt(version: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": f"Airflow {version}"}, {"role": "user", "content": "x"}]

    versions = ["2.10"] * 9 + ["3.1"] * 6  # 9 = two batches of 4 and one row left over
    answers_of = [[{"role": "assistant", "content": str(i)}] for i in range(len(versions))]
    rows = [{"prompt": prompt(v), "completion": a} for v, a in zip(versions, answers_of, strict=True)]
    data = Dataset.from_list(rows)
    ordered = batches_by_opening(data, 4, seed=1)
    answers = [int(row[0]["content"]) for row in ordered["completion"]]
    assert sorted(answers) == list(range(15))  # every row once
    assert answers == [int(r[0]["content"]) for r in batches_by_opening(data, 4, seed=1)["completion"]]
    assert answers != [int(r[0]["content"]) for r in batches_by_opening(data, 4, seed=2)["completion"]]
    openings = [row[0]["content"] for row in ordered["prompt"]]
    full = [openings[i : i + 4] for i in range(0, 12, 4)]
    assert all(len(set(chunk)) == 1 for chunk in full)  # three whole batches, each of one opening
    assert sorted(openings[12:]) == ["Airflow 2.10", "Airflow 3.1", "Airflow 3.1"]  # the leftovers, at the end


def test_a_trainer_batched_by_opening_runs_one_opening_a_batch(
    tiny_model: Path, two_versions: Path, tmp_path: Path
) -> None:
    trainer = _trainer(
        tiny_model, two_versions, tmp_path, finetune="lora", per_device_train_batch_size=3, batch_by_opening=True
    )
    batches = list(trainer.get_train_dataloader())
    assert len(batches) == 2
    opening = len(trainer.processing_class.apply_chat_template(DEFAULT_CONTRACT.messages("x", "2.10.3", "y")[:1]))
    for batch in batches:
        stats = shared_prefix_step(
            trainer.model.get_base_model(), dict(batch), divisor=1.0, autocast=trainer.accelerator.autocast,
            backward=lambda x: x.backward(),
        )  # fmt: skip
        assert stats.saved >= 2 * opening  # one group of three: the opening run once instead of three times


def test_batches_by_opening_need_shared_openings(tiny_model: Path, two_versions: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shared_prefix: true"):
        _trainer(tiny_model, two_versions, tmp_path, shared_prefix=False, batch_by_opening=True)


def _vocab(ids: list[int], size: int) -> HeadVocab:
    kept = torch.tensor(sorted(ids))
    index = torch.full((size,), -1)
    index[kept] = torch.arange(len(kept))
    return HeadVocab(ids=kept, index=index)


def _step(trainer: Any, batch: Any, vocab: HeadVocab | None) -> tuple[float, dict[str, torch.Tensor]]:
    model = trainer.model
    model.zero_grad(set_to_none=True)
    stats = shared_prefix_step(
        model.get_base_model(), dict(batch), divisor=1.0, autocast=trainer.accelerator.autocast,
        backward=lambda x: x.backward(), vocab=vocab,
    )  # fmt: skip
    return stats.loss_sum, _grads(model)


def test_a_head_vocabulary_of_every_token_is_the_whole_loss(
    tiny_model: Path, two_versions: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_model, two_versions, tmp_path, finetune="lora")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(6)])
    size = trainer.model.get_output_embeddings().weight.shape[0]
    whole, expected = _step(trainer, batch, None)
    every, grads = _step(trainer, batch, _vocab(list(range(size)), size))
    assert every == pytest.approx(whole, rel=1e-6)
    for name, grad in expected.items():
        torch.testing.assert_close(grads[name], grad, msg=name)


def test_a_head_vocabulary_scores_the_softmax_over_its_tokens_alone(
    tiny_model: Path, two_versions: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_model, two_versions, tmp_path, finetune="lora")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(6)])
    model = trainer.model
    size = model.get_output_embeddings().weight.shape[0]
    rows = unpad(dict(batch))
    seen = sorted({int(t) for row in rows for t in row.ids})
    assert len(seen) < size  # the rows use part of the tokenizer's vocabulary
    vocab = _vocab(seen, size)
    restricted, _ = _step(trainer, batch, vocab)
    whole, _ = _step(trainer, batch, None)

    by_hand = 0.0
    with torch.no_grad():
        for row in rows:
            logits = model(input_ids=row.ids[None]).logits[0, :-1]
            targets = row.labels[1:]
            scored = targets != -100
            kept = logits[scored][:, vocab.ids]
            by_hand += float(torch.nn.functional.cross_entropy(kept, vocab.index[targets[scored]], reduction="sum"))
    assert restricted == pytest.approx(by_hand, rel=1e-5)
    assert restricted < whole  # the normaliser sums over fewer tokens

    with pytest.raises(ValueError, match="outside head_vocab"):
        _step(trainer, batch, _vocab(seen[: len(seen) // 2], size))


def test_the_head_vocabulary_holds_the_rows_and_the_corpus(
    tiny_model: Path, two_versions: Path, tmp_path: Path
) -> None:
    import zipfile

    corpus = tmp_path / "corpus"
    (corpus / "src").mkdir(parents=True)
    (corpus / "src" / "plain.py").write_text("zebra_quokka = 1\n", encoding="utf-8")
    with zipfile.ZipFile(corpus / "pkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("pkg/mod.py", "narwhal_axolotl = 2\n")
        wheel.writestr("pkg/data.txt", "not code")
        wheel.writestr("pkg/same.py", "zebra_quokka = 1\n")  # the same file twice is read once
    assert sorted(corpus_texts(corpus)) == ["narwhal_axolotl = 2\n", "zebra_quokka = 1\n"]

    trainer = _trainer(tiny_model, two_versions, tmp_path / "run", head_vocab="seen", head_corpus=corpus)
    tokenizer = trainer.processing_class
    vocab = trainer.head_vocab
    held = set(vocab.ids.tolist())
    rows = {t for row in trainer.train_dataset["input_ids"] for t in row}
    corpus_ids = set(tokenizer("zebra_quokka = 1\nnarwhal_axolotl = 2\n")["input_ids"])
    assert rows <= held and corpus_ids <= held and set(tokenizer.all_special_ids) <= held
    assert held == rows | corpus_ids | set(tokenizer.all_special_ids)
    assert all(int(vocab.index[t]) == i for i, t in enumerate(vocab.ids.tolist()))
    assert len(vocab) < len(tokenizer)

    settings = _settings(tiny_model, two_versions, tmp_path / "run")
    result = dagtune.train(TrainConfig(**settings, head_vocab="seen", head_corpus=corpus, finetune="lora"))
    assert result.head_vocab == len(vocab)
    assert result.train_loss is not None and result.train_loss > 0


def test_a_head_vocabulary_needs_shared_openings(tiny_model: Path, two_versions: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shared_prefix: true"):
        _trainer(tiny_model, two_versions, tmp_path, shared_prefix=False, head_vocab="seen")
    with pytest.raises(ConfigError, match="does not exist"):
        head_vocab(None, [], 10, tmp_path / "missing")
    (tmp_path / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot read"):
        list(corpus_texts(tmp_path / "broken-1.0-py3-none-any.whl"))
