"""Training throughput, Unsloth vs plain TRL + PEFT, on a model of Qwen2.5-1.5B's shape (GPU only).

    uv run python bench/train_bench.py [--seq 2048 4096] [--steps 12]
    (Unsloth: `uv pip install unsloth` first; it is CUDA-only and not part of the lock.)

Weights are random (throughput does not depend on them) and the shape is Qwen2.5-1.5B-Instruct's,
built from a config, so nothing is downloaded. Both backends run the research's QLoRA config (4-bit
base, LoRA r16/alpha16 on all projections, batch 2 x accumulation 4) on the same synthetic batches
in one process run each; the table gives tokens/s and the ratio. Without CUDA it says so and exits.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QWEN25_15B = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "architectures": ["Qwen2ForCausalLM"],
}


def make_model(folder: Path) -> None:
    """Random Qwen2.5-1.5B-shaped weights and a byte-level tokenizer, saved locally."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    # One token per byte: sequence lengths are exact.
    vocab = {symbol: i for i, symbol in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    fast.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    fast.save_pretrained(folder)
    config = Qwen2Config(**{k: v for k, v in QWEN25_15B.items() if k != "architectures"})
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)


def run_one(backend: str, folder: Path, seq: int, steps: int) -> dict[str, float]:
    """Train `steps` optimizer steps on random token batches of length `seq`; tokens/s after warm-up."""
    import random

    import torch
    from datasets import Dataset, DatasetDict

    import dagtune
    from dagtune.train import build_trainer

    rng = random.Random(0)
    data_dir = folder / f"data-{seq}"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "write"},
                {"role": "assistant", "content": "".join(rng.choices("abcdefgh ", k=seq - 40))},
            ]
        }
        for _ in range(64)
    ]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(data_dir / "hf"))
    config = dagtune.TrainConfig(
        base_model=str(folder),
        dataset=data_dir,
        output_dir=folder / f"run-{backend}-{seq}",
        backend=backend,
        max_seq_length=seq,
        max_steps=steps,
        logging_steps=1,
        save_steps=10_000,
        eval_steps=10_000,
    )
    trainer, used = build_trainer(config)
    start = {}

    from transformers import TrainerCallback

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == 2:
                torch.cuda.synchronize()
                start["t"] = time.perf_counter()

    trainer.add_callback(Clock())
    trainer.train()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start["t"]
    tokens = (steps - 2) * config.per_device_train_batch_size * config.gradient_accumulation_steps * seq
    return {
        "backend": used,
        "seq": seq,
        "tokens_per_s": tokens / seconds,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--one", nargs=3, metavar=("BACKEND", "FOLDER", "SEQ"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    if args.one:
        backend, folder, seq = args.one
        print(json.dumps(run_one(backend, Path(folder), int(seq), args.steps)))
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark compares GPU training backends; run it on a GPU machine")
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_model(folder)
        for seq in args.seq:
            for backend in ("hf", "unsloth"):
                # One process per run: Unsloth patches transformers on import, which must not leak into hf.
                out = subprocess.run(
                    [sys.executable, __file__, "--one", backend, str(folder), str(seq), "--steps", str(args.steps)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
                if out.returncode != 0 or not line.startswith("{"):
                    print(f"{backend} at {seq} failed:\n{out.stderr[-2000:]}")
                    continue
                results.append(json.loads(line))
    print(f"{'seq':>6} {'backend':>8} {'tokens/s':>10} {'peak GiB':>9} {'ratio':>6}")
    for seq in args.seq:
        rows = [r for r in results if r["seq"] == seq]
        base = next((r["tokens_per_s"] for r in rows if r["backend"] == "hf"), None)
        for r in rows:
            ratio = r["tokens_per_s"] / base if base else float("nan")
            print(f"{seq:>6} {r['backend']:>8} {r['tokens_per_s']:>10.0f} {r['peak_gib']:>9.1f} {ratio:>6.2f}")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/train.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
