"""Decoding and quantisation settings, side by side, on a dev set: never on the request benchmark.

    uv run python bench/decoding_dev.py GGUF [GGUF ...] --dataset out/laptop/dataset [--penalty 1.0 --penalty 1.1]
        [--grammar]

The dev set is two parts: fresh composed requests (`bench/devset.py`), judged up to intent, and the dataset's
held-out split, judged up to import. Each GGUF is served by dagserve and answers both parts under each repeat
penalty (and, with `--grammar`, also under the Python answer grammar), greedy, stopping at the contract's closing
fence, 640 tokens. Prints validity per setting; writes
bench/results/decoding_dev.json. The laptop config's `repeat_penalty` and quantisation were chosen with it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devset import dev_prompts

import dageval
import dagserve

PARTS = [("dev", ["syntax", "structure", "import", "intent"]), ("heldout", ["syntax", "structure", "import"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--dataset", type=Path, default=Path("out/laptop/dataset"))
    parser.add_argument("--penalty", type=float, action="append", help="repeat penalties to compare (default 1.0)")
    parser.add_argument("--grammar", action="store_true", help="also decode under the Python answer grammar")
    parser.add_argument("--per-version", type=int, default=8)
    parser.add_argument("--heldout", type=int, default=20)
    args = parser.parse_args()
    penalties = args.penalty or [1.0]
    work = Path(tempfile.mkdtemp(prefix="decoding-dev-"))
    dev = dev_prompts(args.dataset, args.per_version, work / "dev.jsonl")

    @contextmanager
    def served(model: Path) -> Iterator[str]:
        state = work / "server"
        info = dagserve.start_server(
            dagserve.ServeConfig(model=str(model), port=0, parallel=4, ctx=2560), state_dir=state
        )
        try:
            yield f"{info.url}/v1"
        finally:
            dagserve.stop_server(state_dir=state)

    # Pipelines name every export `model-q8_0.gguf`: two models of one name are told apart by their run folder.
    stems = [m.stem for m in args.models]
    labels = [m.stem if stems.count(m.stem) == 1 else f"{m.parent.parent.name}-{m.stem}" for m in args.models]
    if len(set(labels)) < len(labels):
        parser.error("two models share a name and a run folder: give each its own path")
    rows = []
    for model, label in zip(args.models, labels, strict=True):
        for penalty, grammar in [(p, g) for p in penalties for g in ([False, True] if args.grammar else [False])]:
            row: dict[str, object] = {"model": label, "repeat_penalty": penalty, "grammar": grammar}
            parts = [
                ("dev", dev, dageval.Level.INTENT, 0),
                ("heldout", args.dataset / "test.jsonl", dageval.Level.IMPORT, args.heldout),
            ]
            for name, prompts, level, first in parts:
                config = dageval.JudgeConfig(
                    level=level, max_prompts=first, max_tokens=640, extra={"repeat_penalty": penalty}, grammar=grammar
                )
                folder = work / f"{label}-{penalty}-{'grammar-' if grammar else ''}{name}"
                judged = dageval.judge_model(label, model, prompts, folder, config, serve=served)
                row.update({f"{name}_{lv.level}": lv.rate for lv in judged.summary.levels})
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| model | repeat penalty | grammar | dev syntax | dev structure | dev import | dev intent "
        "| held-out syntax | held-out structure | held-out import |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r[f"{part}_{level}"] for part, levels in PARTS for level in levels]
        rates = " | ".join(f"{float(c):.0%}" for c in cells)  # type: ignore[arg-type]
        print(f"| {r['model']} | {r['repeat_penalty']} | {'on' if r['grammar'] else 'off'} | {rates} |")
    out = Path(__file__).parent / "results" / "decoding_dev.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
