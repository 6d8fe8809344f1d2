"""Does torch.compile speed up training on this CPU? Eager against compiled, the same steps, side by side.

    uv run python bench/compile_bench.py [--steps 6]

One subprocess per mode runs full fine-tuning steps of the real SmolLM2-135M-Instruct (AdamW, batch 1, every
position scored) on sequences of 400-512 tokens, lengths varying as a dataset's do (the compiled model is
`dynamic=True`, so lengths do not recompile it). Reports the first step (the compile) and tokens/s over the steps
after the second, and the ratio to eager. Writes bench/results/compile.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LENGTHS = [512, 512, 430, 512, 470, 512, 400, 488]


def run(mode: str, steps: int) -> dict[str, float]:
    import torch

    import dagtune

    model = dagtune.load_model(str(dagtune.smollm2_gguf()))
    model.train()
    forward = torch.compile(model, dynamic=True) if mode == "compiled" else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    lengths = LENGTHS[: steps + 2]
    times = []
    for length in lengths:
        ids = torch.randint(100, 40_000, (1, length))
        start = time.perf_counter()
        forward(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return {"first_step_s": times[0], "tokens_per_s": sum(lengths[2:]) / sum(times[2:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, choices=range(1, len(LENGTHS) - 1))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(args.one, args.steps)))
        return
    rows = {}
    for mode in ("eager", "compiled"):
        cmd = [sys.executable, __file__, "--one", mode, "--steps", str(args.steps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    print("\n| mode | first step (s) | tokens/s after it | ratio |")
    print("|---|---:|---:|---:|")
    for mode, row in rows.items():
        ratio = row["tokens_per_s"] / rows["eager"]["tokens_per_s"]
        print(f"| {mode} | {row['first_step_s']:.1f} | {row['tokens_per_s']:.1f} | {ratio:.2f}x |")
    out = Path(__file__).parent / "results" / "compile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
