"""The LM head's vocabulary in training (`head_vocab: seen`, dagtune._vocab): time, loss and gradient against the
whole vocabulary, and the probability the model puts outside the vocabulary scored.

    uv run python bench/head_vocab_bench.py --dataset out/qwen05-v24/dataset --corpus out/qwen05-v24/dists \
        [--model out/qwen05-v24/base/hf] [--batches 3] [--rounds 3]

One process, one model (LoRA r16 on every linear layer, bf16 autocast, frozen weights in bf16, eager attention: the
laptop-qwen05 recipe), dagtune's shared-opening step on the same batches of 4 training conversations of one opening
each way; the ways alternate within every round and the best round of each is reported (the machine is shared).
Ways: the whole vocabulary; the training rows' tokens alone; the rows' and the corpus's (what the pipeline trains
with). For each: seconds a batch and the ratio to the whole vocabulary; the summed loss; the cosine of the adapters'
gradient with the whole vocabulary's (1 is the same direction); and, under the model as it is, the probability at the
answer positions on tokens outside the vocabulary (mean and 95th percentile) and how often its most likely token lies
outside. Writes bench/results/head_vocab.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a dagdata folder (its hf/ DatasetDict)")
    parser.add_argument("--corpus", type=Path, required=True, help="Python sources: the pipeline's dists/ folder")
    parser.add_argument("--model", default=None, help="default: the dataset's pipeline base (../base/hf)")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    import dagtune
    from dagtune._alloc import keep_freed_memory
    from dagtune._prefix import shared_prefix_step, unpad
    from dagtune._vocab import HeadVocab, head_vocab

    model = args.model or str(args.dataset.parent / "base" / "hf")
    with tempfile.TemporaryDirectory() as tmp, keep_freed_memory(enabled=True):
        config = dagtune.TrainConfig(
            base_model=model, dataset=args.dataset, output_dir=Path(tmp) / "run", finetune="lora", lora_r=16,
            lora_alpha=32, precision="bf16", max_seq_length=1024, gradient_checkpointing=False, attention="eager",
            per_device_train_batch_size=4, gradient_accumulation_steps=1, shared_prefix=True, batch_by_opening=True,
            max_steps=1, head_vocab="seen", head_corpus=args.corpus,
        )  # fmt: skip
        started = time.perf_counter()
        trainer, _ = dagtune.build_trainer(config)
        build_s = time.perf_counter() - started
        corpus_vocab = trainer.head_vocab
        size = trainer.model.get_output_embeddings().weight.shape[0]
        rows_vocab = head_vocab(trainer.processing_class, trainer.train_dataset["input_ids"], size)
        loader = iter(trainer.get_train_dataloader())
        batches = [trainer._prepare_inputs(next(loader)) for _ in range(args.batches)]
        peft, inner = trainer.model, trainer.model.get_base_model()
        ways: list[tuple[str, HeadVocab | None]] = [
            ("whole vocabulary", None),
            ("training rows' tokens", rows_vocab),
            ("rows' and corpus's tokens", corpus_vocab),
        ]

        def autocast() -> Any:
            return torch.autocast("cpu", dtype=torch.bfloat16)

        best: dict[str, float] = {}
        losses: dict[str, float] = {}
        grads: dict[str, Any] = {}
        for round_ in range(args.rounds):
            for name, vocab in ways:
                peft.zero_grad(set_to_none=True)
                start = time.perf_counter()
                loss = sum(
                    shared_prefix_step(
                        inner, b, divisor=1000.0, autocast=autocast, backward=lambda x: x.backward(), vocab=vocab
                    ).loss_sum
                    for b in batches
                )
                seconds = (time.perf_counter() - start) / len(batches)
                best[name] = min(best.get(name, float("inf")), seconds)
                losses[name] = loss
                grads[name] = torch.cat([p.grad.flatten().double() for p in peft.parameters() if p.grad is not None])
                print(f"round {round_}: {name}: {seconds:.2f} s a batch", flush=True)

        outside: dict[str, tuple[float, float, int]] = {}
        with torch.no_grad(), autocast():
            probs = []
            for batch in batches:
                for row in unpad(batch):
                    logits = inner(input_ids=row.ids[None]).logits[0, :-1]
                    probs.append(logits[row.labels[1:] != -100].float().softmax(-1))
            p = torch.cat(probs)
        for name, vocab in ways[1:]:
            assert vocab is not None
            keep = torch.zeros(size, dtype=torch.bool)
            keep[vocab.ids] = True
            mass = p[:, ~keep].sum(-1)
            outside[name] = (float(mass.mean()), float(mass.quantile(0.95)), int((~keep[p.argmax(-1)]).sum()))
    whole = best["whole vocabulary"]
    print(f"\n{model}, LoRA r16, bf16, {args.batches} batches of 4 by opening, best of {args.rounds} rounds; ")
    print(f"the vocabulary built in {build_s:.1f} s with the trainer; {len(p)} answer positions\n")
    print("| LM head scores | tokens | s a batch | ratio | summed loss | gradient cosine | mass outside: mean | p95 "
          "| most likely outside |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = []
    for name, vocab in ways:
        tokens = size if vocab is None else len(vocab)
        cosine = float(torch.nn.functional.cosine_similarity(grads[name], grads["whole vocabulary"], dim=0))
        mean, p95, top = outside.get(name, (0.0, 0.0, 0))
        print(f"| {name} | {tokens:,} | {best[name]:.2f} | {whole / best[name]:.2f}x | {losses[name]:.2f} | "
              f"{cosine:.4f} | {mean:.2%} | {p95:.2%} | {top} of {len(p)} |")  # fmt: skip
        table.append({"way": name, "tokens": tokens, "seconds_per_batch": best[name], "loss": losses[name],
                      "gradient_cosine": cosine, "mass_outside_mean": mean, "mass_outside_p95": p95,
                      "argmax_outside": top})  # fmt: skip
    out = Path("bench/results/head_vocab.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": model, "positions": len(p), "rows": table}, indent=2) + "\n")


if __name__ == "__main__":
    main()
