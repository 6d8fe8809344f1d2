"""Decoding under a grammar: free text vs the grammar checked per pick (dagserve's default) vs masking every pick.

    uv run python bench/grammar_bench.py [--model PATH.gguf] [--answer spec|python] [--requests 8] [--parallel 4]
        [--tokens 256] [--repeats 2]

One `dagserve serve` on the GGUF (default: the bundled SmolLM2-135M-Instruct). The same chat requests each way, for
composed requests (never the benchmark's), greedy, up to `--tokens` new tokens, `--parallel` at once. `--answer
spec`: dagsynth's guided spec prompt (its guide and worked example) under the DAG spec's JSON schema; `--answer
python`: the request as the served model's prompt contract states it, under the Python answer grammar
(`dagcore.python_answer_grammar`).

- `free`: no grammar (the model writes whatever it writes);
- `checked`: the grammar; each pick is made without it and redone under it only when it refuses the pick
  (`dagserve._grammar.GuidedSampler`, llama.cpp's default);
- `masked`: the same with `grammar_first` (the grammar masks the whole vocabulary before every pick);
- for `--answer python`, `checked, no name guard`: the grammar without dagserve's name guard, which
  `dagcore.with_answer_grammar` sends with it (`dagserve._names`: each token's text read by a Python monitor).

Rounds interleave the ways; the best of `--repeats` is kept. Prints aggregate tokens/s and the ratio to `masked`,
checks that `checked` and `masked` wrote the same greedy answers, and writes bench/results/grammar_bench.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from serve_bench import free_port, start

from dagcore import DEFAULT_CONTRACT, with_answer_grammar
from dagserve.resolve import resolve_model
from dagsynth.compose import draw
from dagsynth.spec import SPEC_RESPONSE_FORMAT, spec_messages


def ways(answer: str) -> dict[str, dict[str, Any]]:
    """Each way's request fields: the answer's grammar checked per pick or masking every pick, or none; for Python
    answers also the grammar without the name guard that goes with it."""
    if answer == "spec":
        grammar: dict[str, Any] = {"response_format": SPEC_RESPONSE_FORMAT}
        return {"free": {}, "checked": grammar, "masked": {**grammar, "grammar_first": True}}
    grammar = with_answer_grammar({}, DEFAULT_CONTRACT)
    unguarded = {**grammar, "name_guard": False}
    found = {"free": {}, "checked, no name guard": unguarded, "checked": grammar}
    return found | {"masked": {**grammar, "grammar_first": True}}


def asking(answer: str, request: str) -> list[dict[str, str]]:
    return spec_messages(request) if answer == "spec" else DEFAULT_CONTRACT.messages(request, "3.1")


def run(
    url: str, requests: list[list[dict[str, str]]], extra: dict[str, Any], tokens: int, parallel: int
) -> dict[str, Any]:
    def one(messages: list[dict[str, str]]) -> tuple[str, int]:
        body = {"messages": messages, "max_tokens": tokens, "temperature": 0.0, **extra}
        data = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=900).json()
        return data["choices"][0]["message"]["content"], data["usage"]["completion_tokens"]

    start_s = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(one, requests))
    wall = time.perf_counter() - start_s
    made = sum(n for _, n in answers)
    return {"tokens": made, "wall_s": wall, "tps": made / wall, "answers": [a for a, _ in answers]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--answer", choices=["spec", "python"], default="spec")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    model = args.model or resolve_model(None)
    rng = random.Random(4242)
    requests = [asking(args.answer, draw(rng, "3.1").requests[0]) for _ in range(args.requests)]
    way_fields = ways(args.answer)
    port = free_port()
    cmd = [sys.executable, "-m", "dagserve", "serve", "--model", str(model), "--port", str(port)]
    cmd += ["--ctx", "2048", "--parallel", str(args.parallel)]
    log = Path(tempfile.gettempdir()) / "grammar_bench.dagserve.log"
    proc = start("dagserve", cmd, port, log)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict[str, Any]]] = {way: [] for way in way_fields}
    try:
        run(url, requests[:2], way_fields["checked"], 16, args.parallel)  # warm-up: the grammar, the prompt cache
        for _ in range(args.repeats):
            for way, extra in way_fields.items():
                results[way].append(run(url, requests, extra, args.tokens, args.parallel))
                print(f"{way}: {results[way][-1]['tps']:.1f} tok/s", flush=True)
        refused = httpx.get(f"{url}/health").json().get("grammar_refused_tokens")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    best = {way: max(runs, key=lambda r: r["tps"]) for way, runs in results.items()}
    same = sum(a == b for a, b in zip(best["checked"]["answers"], best["masked"]["answers"], strict=True))
    print(f"\n{model.name}, {args.answer} answers, {len(requests)} requests, {args.parallel} at once, ", end="")
    print(f"greedy, up to {args.tokens} tokens\n")
    print("| decoding | tokens | tok/s (all requests) | vs masked |")
    print("|---|---:|---:|---:|")
    for way, r in best.items():
        print(f"| {way} | {r['tokens']} | {r['tps']:.1f} | {r['tps'] / best['masked']['tps']:.2f}x |")
    print(
        f"\nchecked and masked wrote the same answer for {same} of {len(requests)} requests; "
        f"grammar-refused picks over the whole run: {refused}"
    )
    out = Path(f"bench/results/grammar_bench{'' if args.answer == 'spec' else '_python'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "model": str(model),
        "answer": args.answer,
        "requests": len(requests),
        "parallel": args.parallel,
        "tokens": args.tokens,
        "runs": {w: [{k: v for k, v in r.items() if k != "answers"} for r in runs] for w, runs in results.items()},
        "same_answers": same,
        "refused": refused,
    }
    out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
