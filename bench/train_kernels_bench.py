"""A LoRA training step's kernels on this CPU: frozen weights cast by autocast in every forward vs stored in bf16
once (dagtune._frozen), and sdpa's flash attention vs eager attention (`attention: eager`).

    uv run python bench/train_kernels_bench.py [--model PATH.gguf] [--batches 2] [--rounds 4]

One process, one model (default: Qwen2.5-Coder-0.5B-Instruct from bench/base_models.py, else SmolLM2-135M), LoRA r16
on every linear layer, bf16 autocast, dagtune's shared-opening step on the same batches of 4 composed conversations
(Airflow 3.1 and 2.10) each way. The ways alternate within every round (the machine is shared: the best round of each
is reported), and the weights are swapped in place, so every way runs the very same adapters and data. Prints
seconds per batch, the ratio to the first way, and the summed loss and gradient of each way: the bf16 copies must
give the same numbers bit for bit, eager attention numbers within bf16 rounding. Writes
bench/results/train_kernels.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QWEN = Path("out/bases/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
WAYS = [
    ("autocast casts in every forward, sdpa", False, "sdpa"),
    ("frozen weights in bf16, sdpa", True, "sdpa"),
    ("frozen weights in bf16, eager", True, "eager"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import torch
    from datasets import Dataset, DatasetDict

    import dagsynth
    import dagtune
    from dagcore import DEFAULT_CONTRACT
    from dagtune._alloc import keep_freed_memory
    from dagtune._prefix import shared_prefix_step

    base = args.model or (QWEN if QWEN.is_file() else dagtune.smollm2_gguf())
    count = 4 * args.batches
    rows = []
    for d in dagsynth.compose(count, ["3.1", "2.10"], seed=11)[:count]:
        chat = DEFAULT_CONTRACT.messages(d.requests[-1], d.airflow_version)
        rows.append({"messages": [*chat, {"role": "assistant", "content": DEFAULT_CONTRACT.answer(d.code)}]})
    sys.modules["dagtune.train"].frozen_linears_to = lambda model, dtype: 0  # the bench swaps the weights itself
    with tempfile.TemporaryDirectory() as tmp, keep_freed_memory(enabled=True):
        DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(f"{tmp}/data")
        config = dagtune.TrainConfig(
            base_model=str(base), dataset=Path(f"{tmp}/data"), output_dir=Path(f"{tmp}/run"), finetune="lora",
            lora_r=16, lora_alpha=32, precision="bf16", max_seq_length=1024, gradient_checkpointing=False,
            per_device_train_batch_size=4, gradient_accumulation_steps=1, shared_prefix=True, max_steps=1,
        )  # fmt: skip
        trainer, _ = dagtune.build_trainer(config)
        peft, inner = trainer.model, trainer.model.get_base_model()
        batches = [trainer._prepare_inputs(b) for b in trainer.get_train_dataloader()]
        frozen = [
            m
            for m in inner.modules()
            if isinstance(m, torch.nn.Linear) and not any(p.requires_grad for p in m.parameters(recurse=False))
        ]
        fp32 = {m: dict(m.named_parameters(recurse=False)) for m in frozen}
        bf16 = {
            m: {n: torch.nn.Parameter(p.detach().bfloat16(), requires_grad=False) for n, p in ps.items()}
            for m, ps in fp32.items()
        }

        def use(cast: bool, attention: str) -> None:
            for module, params in (bf16 if cast else fp32).items():
                for name, param in params.items():
                    setattr(module, name, param)
            inner.set_attn_implementation(attention)

        def autocast() -> Any:
            return torch.autocast("cpu", dtype=torch.bfloat16)

        best: dict[str, float] = {}
        sums: dict[str, tuple[float, float]] = {}
        for round_ in range(args.rounds):
            for name, cast, attention in WAYS:
                use(cast, attention)
                peft.zero_grad(set_to_none=True)
                start = time.perf_counter()
                loss = sum(
                    shared_prefix_step(
                        inner, b, divisor=1000.0, autocast=autocast, backward=lambda x: x.backward()
                    ).loss_sum
                    for b in batches
                )
                seconds = (time.perf_counter() - start) / len(batches)
                grad = sum(float(p.grad.double().abs().sum()) for p in peft.parameters() if p.grad is not None)
                best[name] = min(best.get(name, float("inf")), seconds)
                sums[name] = (loss, grad)
                print(f"round {round_}: {name}: {seconds:.2f} s a batch", flush=True)
    first = best[WAYS[0][0]]
    print(f"\n{base.name}, LoRA r16, bf16 autocast, batches of 4 with a shared opening, best of {args.rounds} rounds\n")
    print("| way | s a batch | ratio | summed loss | summed abs gradient |")
    print("|---|---:|---:|---:|---:|")
    for name, _, _ in WAYS:
        loss, grad = sums[name]
        print(f"| {name} | {best[name]:.2f} | {first / best[name]:.2f}x | {loss:.4f} | {grad:.4f} |")
    out = Path("bench/results/train_kernels.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_out = [{"way": n, "seconds_per_batch": best[n], "loss": sums[n][0], "grad": sums[n][1]} for n, _, _ in WAYS]
    out.write_text(json.dumps({"model": base.name, "rounds": args.rounds, "rows": rows_out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
