"""The providers' import block in the answer grammar, on and off, on the written dev requests that name a provider.

    uv run python bench/provider_imports.py out/laptop/export/model-q8_0.gguf [--parallel 1]

`dagcore.asked_imports` reads the providers a request names ("into Snowflake" -> `SnowflakeHook`), and the answer
grammar then opens the file with the import block composed files open with, their lines sorted in
(`dagcore.grammar.opening_imports`). Requests that name none get the same grammar either way, so only those that
name one are judged, once with the block and once without it, up to intent (the grammar, name guard, greedy
decoding and 640 tokens of the laptop config), and the two judgements are paired request by request.

`--parallel 1` decodes one answer at a time. With 4 slots the batch an answer is decoded in changes its numbers
slightly and a greedy answer can flip: between two runs of 4 slots on identical grammars, 67 of 103 answers differed,
and 7 moved up at intent against 0 down. With one slot 5 of 6 answers were identical; the sixth can differ where the
prompt's prefix was cached from an earlier request, computed in another batch. `--fresh-prompts` turns that cache
off (dagserve's `cache_prompt: false`): with it two runs gave the same answer to 12 of 12 requests. The 2026-12-06
numbers in bench/README were measured with one slot and the cache on.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devset import WRITTEN
from failures import kind

import dagcore.grammar as grammar
import dageval
import dagserve

LEVELS = ("import", "intent")


def _passed(verdict: dageval.Verdict, level: str) -> bool:
    return any(r.level.label == level and r.ok for r in verdict.results)


def _mcnemar(up: int, down: int) -> float:
    n, k = up + down, min(up, down)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a GGUF file")
    parser.add_argument("--parallel", type=int, default=1, help="server slots (1: no batched-decoding noise)")
    parser.add_argument("--requests", type=Path, default=WRITTEN, help="a request set (default: the written dev set)")
    parser.add_argument(
        "--fresh-prompts", action="store_true", help="no cached prompt prefixes (`cache_prompt: false`): same answers"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="provider-imports-"))

    @contextmanager
    def served(model: Path) -> Iterator[str]:
        config = dagserve.ServeConfig(model=str(model), port=0, parallel=args.parallel, ctx=2560)
        info = dagserve.start_server(config, state_dir=work / "server")
        try:
            yield f"{info.url}/v1"
        finally:
            dagserve.stop_server(state_dir=work / "server")

    asked = grammar.asked_imports
    rows = [line for line in args.requests.read_text().splitlines(keepends=True) if line.strip()]
    named = [line for line in rows if asked(json.loads(line)["request"])]
    source = work / "named.jsonl"
    source.write_text("".join(named))
    print(f"{len(named)} of {len(rows)} requests name a provider; answers under {work}", flush=True)
    config = dageval.JudgeConfig(
        level=dageval.Level.INTENT,
        max_prompts=0,
        max_tokens=640,
        extra={"repeat_penalty": 1.0} | ({"cache_prompt": False} if args.fresh_prompts else {}),
        grammar=True,
    )
    verdicts: dict[str, dict[str, dageval.Verdict]] = {}
    for arm in ("without", "with"):
        # The arm without the block reads no provider from any request; everything else is the product's grammar.
        grammar.asked_imports = asked if arm == "with" else (lambda request: ())
        grammar._grammar.cache_clear()
        dageval.judge_model(arm, args.model, source, work / arm, config, serve=served)
        lines = (work / arm / "verdicts.jsonl").read_text().splitlines()
        verdicts[arm] = {v.prompt_id: v for v in (dageval.Verdict.model_validate_json(x) for x in lines if x)}
    grammar.asked_imports = asked

    ids = sorted(verdicts["with"].keys() & verdicts["without"].keys())
    print("\n| level | without the block | with it | up | down | McNemar p |\n|---|---:|---:|---:|---:|---:|")
    for level in LEVELS:
        before = {i: _passed(verdicts["without"][i], level) for i in ids}
        after = {i: _passed(verdicts["with"][i], level) for i in ids}
        up = sum(after[i] and not before[i] for i in ids)
        down = sum(before[i] and not after[i] for i in ids)
        rate = lambda passed: f"{100 * sum(passed.values()) / len(ids):.1f}%"  # noqa: E731
        print(f"| {level} | {rate(before)} | {rate(after)} | {up} | {down} | {_mcnemar(up, down):.3g} |")
    for arm, judged in verdicts.items():  # where each answer stopped: the first level it failed
        stops = Counter(kind(v) if v.failure else "ok" for v in judged.values())
        print(f"{arm}: " + ", ".join(f"{category} {n}" for category, n in stops.most_common()))


if __name__ == "__main__":
    main()
