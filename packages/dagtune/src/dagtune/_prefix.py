"""Run the prompt's shared opening once per batch: the system message every conversation starts with.

Every training conversation opens with the same system message (the prompt contract, the version's import lines):
about 130 of the Qwen dataset's 514 tokens a conversation. A batch computes it once per group of rows that share it,
then runs each row's rest on top of the opening's keys and values. The gradient comes back the same way gradient
caching does it (Gao et al., 2021): each row's backward stops at detached copies of the opening's keys and values and
adds their gradients up; one backward through the opening then carries the sum. The loss and every gradient are
those of running each row whole (a test checks it); only the opening's forward and backward are not repeated.

The opening must end before the first position whose hidden state scores a label, so that no row needs the LM head
on it. Rows run one at a time, so memory is that of one row, as with gradient accumulation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagtune._vocab import HeadVocab

MIN_SHARED = 16
"""Tokens two rows must share before they are run as a group: below that the saving is noise."""


@dataclass
class Row:
    ids: Any
    """The row's token ids, padding removed (a 1-D tensor)."""
    labels: Any
    """Its labels (-100 where no loss), aligned with `ids`."""

    @property
    def limit(self) -> int:
        """The longest opening this row can share: positions before the one whose hidden state scores the first
        label (label t is scored from position t - 1)."""
        labelled = (self.labels != -100).nonzero()
        return max(int(labelled[0, 0]) - 1, 0) if len(labelled) else len(self.ids) - 1


@dataclass
class Group:
    rows: list[Row] = field(default_factory=list)
    shared: int = 0
    """Tokens the rows share and run once."""

    @property
    def saved(self) -> int:
        return (len(self.rows) - 1) * self.shared


def common_length(a: Any, b: Any) -> int:
    n = min(len(a), len(b))
    differ = (a[:n] != b[:n]).nonzero()
    return int(differ[0, 0]) if len(differ) else n


def group_rows(rows: Sequence[Row]) -> list[Group]:
    """Rows into groups that share an opening, each joining the group where it saves the most tokens."""
    groups: list[Group] = []
    for row in rows:
        best: tuple[int, Group | None, int] = (0, None, 0)
        for group in groups:
            shared = min(group.shared or group.rows[0].limit, common_length(group.rows[0].ids, row.ids), row.limit)
            # Joining saves `shared` for this row but cuts what the rows already in the group share.
            gain = shared - (len(group.rows) - 1) * ((group.shared or shared) - shared)
            if shared >= MIN_SHARED and gain > best[0]:
                best = (gain, group, shared)
        _, chosen, shared = best
        if chosen is None:
            groups.append(Group(rows=[row]))
        else:
            chosen.rows.append(row)
            chosen.shared = shared
    return groups


def unpad(batch: dict[str, Any]) -> list[Row]:
    """The collated batch's rows without their padding (right or left)."""
    rows = []
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
        keep = mask.bool()
        rows.append(Row(ids=ids[keep], labels=labels[keep]))
    return rows


def _row_loss(causal: Any, row: Row, start: int, cache: Any, vocab: HeadVocab | None) -> tuple[Any, int, int]:
    """Summed token loss of `row` from position `start` on (the opening's keys and values in `cache`), how many
    labels it scored and how many it got right; over `vocab`'s tokens alone when given (dagtune._vocab)."""
    import torch
    from torch.nn.functional import cross_entropy, linear

    ids = row.ids[start:]
    positions = torch.arange(start, start + len(ids), device=ids.device)
    hidden = causal.get_decoder()(
        input_ids=ids[None], position_ids=positions[None], cache=cache, use_cache=cache is not None
    ).last_hidden_state[0]
    targets = row.labels[start + 1 :]
    scored = targets != -100
    # The LM head on the answer's positions only: the prompt's would score a label of -100.
    head = causal.get_output_embeddings()
    wanted = targets[scored]
    if vocab is None:
        logits = head(hidden[:-1][scored]).float()
    else:
        wanted = vocab.index[wanted]
        if bool((wanted < 0).any()):
            raise ValueError("a label outside head_vocab: the vocabulary must hold every training row's tokens")
        bias = None if head.bias is None else head.bias[vocab.ids]
        logits = linear(hidden[:-1][scored], head.weight[vocab.ids], bias).float()
    loss = cross_entropy(logits, wanted, reduction="sum")
    return loss, int(scored.sum()), int((logits.argmax(-1) == wanted).sum())


@dataclass
class StepStats:
    loss_sum: float = 0.0
    labels: int = 0
    correct: int = 0
    tokens: int = 0
    saved: int = 0


def shared_prefix_step(
    causal: Any,
    batch: dict[str, Any],
    *,
    divisor: float,
    autocast: Callable[[], Any],
    backward: Callable[[Any], None],
    vocab: HeadVocab | None = None,
) -> StepStats:
    """Forward and backward of one batch, each shared opening run once: the loss backpropagated is the sum of
    every row's token losses over `divisor` (the Trainer's label count).

    `causal` is the causal LM (PEFT's adapters inside it, if any); `autocast` opens the mixed-precision context the
    Trainer would; `backward` runs a loss's backward as the Trainer would; `vocab`, when given, the tokens the LM
    head scores (dagtune._vocab)."""
    import torch
    from transformers import DynamicCache

    rows = unpad(batch)
    stats = StepStats(tokens=sum(len(row.ids) for row in rows))
    for group in group_rows(rows):
        stats.saved += group.saved
        shared = group.shared if len(group.rows) > 1 else 0
        opening: list[tuple[Any, Any]] = []
        if shared:
            with autocast():
                cache = causal.get_decoder()(input_ids=group.rows[0].ids[None, :shared], use_cache=True).cache
            opening = [(layer.keys, layer.values) for layer in cache.layers]
        # fp32 sums of the gradients every row sends back into the opening's keys and values.
        sent = [torch.zeros_like(t, dtype=torch.float32) for pair in opening for t in pair]
        for row in group.rows:
            leaves = [tuple(t.detach().requires_grad_() for t in pair) for pair in opening]
            cache = DynamicCache(ddp_cache_data=leaves, config=causal.config) if leaves else None
            with autocast():
                loss, scored, correct = _row_loss(causal, row, shared, cache, vocab)
            backward(loss / divisor)
            stats.loss_sum += float(loss.detach())
            stats.labels += scored
            stats.correct += correct
            for sum_, leaf in zip(sent, (t for pair in leaves for t in pair), strict=True):
                if leaf.grad is not None:
                    sum_ += leaf.grad
        if opening:
            tensors = [t for pair in opening for t in pair]
            torch.autograd.backward(tensors, [g.to(t.dtype) for g, t in zip(sent, tensors, strict=True)])
    return stats


def prefix_sharing(base: type) -> type:
    """`base` (TRL's SFTTrainer) with a training step that runs each batch's shared openings once, its LM head
    scoring `head_vocab`'s tokens when set (dagtune._vocab; None scores the whole vocabulary)."""
    import torch

    class PrefixSharingTrainer(base):  # type: ignore[misc]
        head_vocab: HeadVocab | None = None

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            model.train()
            if callable(getattr(self.optimizer, "train", None)):
                self.optimizer.train()
            inputs = self._prepare_inputs(inputs)
            causal = self.accelerator.unwrap_model(model)
            causal = causal.get_base_model() if hasattr(causal, "get_base_model") else causal
            # The Trainer's own normalisation: the token mean over the whole accumulation window when it counted
            # the window's labels, else this batch's mean over the accumulation steps.
            labels = int((inputs["labels"][:, 1:] != -100).sum())  # padding carries no label
            steps = self.current_gradient_accumulation_steps
            divisor = float(num_items_in_batch) if num_items_in_batch is not None else float(max(labels, 1) * steps)
            stats = shared_prefix_step(
                causal,
                inputs,
                autocast=self.accelerator.autocast,
                divisor=divisor,
                backward=self.accelerator.backward,
                vocab=self.head_vocab,
            )
            metrics = getattr(self, "_metrics", None)
            if metrics is not None:
                train = metrics["train"]
                train["mean_token_accuracy"].append(stats.correct / max(stats.labels, 1))
                train["prefix_tokens_saved"].append(stats.saved / max(stats.tokens, 1))
                self._total_train_tokens = getattr(self, "_total_train_tokens", 0) + stats.tokens
                train["num_tokens"] = [self._total_train_tokens]
            return torch.tensor(stats.loss_sum / divisor)

    return PrefixSharingTrainer
