"""Decoding and quantisation settings, side by side, on a dev set: never on the request benchmark.

    uv run python bench/decoding_dev.py GGUF [GGUF ...] --dataset out/laptop/dataset [--penalty 1.0 --penalty 1.1]
        [--grammar] [--parts dev,written,heldout]

The dev set is three parts (`--parts` picks): fresh composed requests (`dev`) and requests written by hand apart
from the composer (`written`), both in `bench/devset.py` and judged up to intent, and the dataset's held-out split
(`heldout`), judged up to import. Each GGUF is served by dagserve and answers both parts under each repeat
penalty (and, with `--grammar`, also under the Python answer grammar with the schedule the request asks for and
dagserve's name guard, as the product decodes; with `--plain-grammar`, under the grammar and the guard without the
schedule; with `--unguarded`, the grammar with the schedule and no guard), greedy, stopping at the contract's
closing fence, 640 tokens. Prints validity per setting; writes
bench/results/decoding_dev.json. The laptop config's `repeat_penalty` and quantisation were chosen with it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from devset import WRITTEN, dev_prompts

import dagcore
import dageval
import dagserve

Grammar = Literal["off", "plain", "unguarded", "on"]
"""Free decoding; the answer grammar alone (`--plain-grammar`); with the request's schedule but without dagserve's
name guard (`--unguarded`); with both, as the product decodes (`--grammar`)."""

INTENT = ["syntax", "structure", "import", "intent"]
PARTS = {"dev": INTENT, "written": INTENT, "heldout": ["syntax", "structure", "import"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--dataset", type=Path, default=Path("out/laptop/dataset"))
    parser.add_argument("--penalty", type=float, action="append", help="repeat penalties to compare (default 1.0)")
    parser.add_argument(
        "--grammar", action="store_true", help="also decode under the answer grammar, with the request's schedule"
    )
    parser.add_argument(
        "--plain-grammar",
        action="store_true",
        help="also decode under the grammar without the request's schedule (dagcore.asked_schedule), to weigh it",
    )
    parser.add_argument(
        "--unguarded",
        action="store_true",
        help="also decode under the grammar with the request's schedule, without the name guard, to weigh the guard",
    )
    parser.add_argument("--per-version", type=int, default=8)
    parser.add_argument("--heldout", type=int, default=20)
    parser.add_argument("--parts", default="dev,written,heldout", help="which parts of the dev set to judge")
    args = parser.parse_args()
    chosen = args.parts.split(",")
    if unknown := set(chosen) - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    penalties = args.penalty or [1.0]
    work = Path(tempfile.mkdtemp(prefix="decoding-dev-"))
    print(f"answers and verdicts: {work}", flush=True)
    prompts = {
        "written": (WRITTEN, dageval.Level.INTENT, 0),
        "heldout": (args.dataset / "test.jsonl", dageval.Level.IMPORT, args.heldout),
    }
    if "dev" in chosen:  # composed afresh against the dataset's training split
        prompts["dev"] = (dev_prompts(args.dataset, args.per_version, work / "dev.jsonl"), dageval.Level.INTENT, 0)

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
        grammars: list[Grammar] = ["off", *(["plain"] if args.plain_grammar else [])]
        grammars += [*(["unguarded"] if args.unguarded else []), *(["on"] if args.grammar else [])]
        for penalty, grammar in [(p, g) for p in penalties for g in grammars]:
            row: dict[str, object] = {"model": label, "repeat_penalty": penalty, "grammar": grammar}
            for name in chosen:
                path, level, first = prompts[name]
                extra: dict[str, object] = {"repeat_penalty": penalty}
                if grammar == "plain":  # the same grammar for every request: no schedule read from it
                    extra |= {"grammar": dagcore.python_answer_grammar(), "name_guard": True}
                if grammar == "unguarded":
                    extra["name_guard"] = False
                config = dageval.JudgeConfig(
                    level=level, max_prompts=first, max_tokens=640, extra=extra, grammar=grammar in ("on", "unguarded")
                )
                folder = work / f"{label}-{penalty}-{'' if grammar == 'off' else grammar + '-grammar-'}{name}"
                judged = dageval.judge_model(label, model, path, folder, config, serve=served)
                row.update({f"{name}_{lv.level}": lv.rate for lv in judged.summary.levels})
            rows.append(row)
            print(json.dumps(row), flush=True)
    columns = [(part, level) for part in chosen for level in PARTS[part]]
    print("\n| model | repeat penalty | grammar | " + " | ".join(f"{p} {lv}" for p, lv in columns) + " |")
    print("|---|---:|---|" + "---:|" * len(columns))
    for r in rows:
        cells = [r[f"{part}_{level}"] for part, level in columns]
        rates = " | ".join(f"{float(c):.0%}" for c in cells)  # type: ignore[arg-type]
        print(f"| {r['model']} | {r['repeat_penalty']} | {r['grammar']} | {rates} |")
    out = Path(__file__).parent / "results" / "decoding_dev.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
