"""A refused greedy pick redone from the likeliest tokens (`GuidedSampler._first_allowed`) against masking the whole
vocabulary with the grammar, side by side in one server.

    uv run python bench/quick_pick_bench.py [--model PATH.gguf ...] [--requests 16] [--parallel 8] [--tokens 640]

One dagserve per model, in this process, so each round can switch `GuidedSampler.QUICK_CANDIDATES` (0: mask on every
refusal, as before). The same composed requests each way (dagsynth, never the benchmark's), stated through the
served model's contract for Airflow 3.1 and 2.10, greedy, under what `airflow-net generate` and the pipeline's judge
send (the Python answer grammar with the request's schedule and providers, the name guard, the version guard), the
config's loop stop, `--parallel` at once. Rounds alternate the ways and the best of `--repeats` is kept (the machine
is shared). Prints tokens/s, the ratio, the picks the grammar or a guard refused, and checks that both ways wrote the
same answers; writes bench/results/quick_pick.json.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from dagcore import DEFAULT_CONTRACT, with_answer_grammar
from dagserve._grammar import GuidedSampler
from dagserve.app import create_app
from dagserve.config import ServeConfig
from dagserve.resolve import resolve_model
from dagserve.server import bind, load_service
from dagsynth.compose import draw

WAYS = {"mask on refusal": 0, "likeliest first": GuidedSampler.QUICK_CANDIDATES}


@contextmanager
def served(model: Path, parallel: int) -> Iterator[str]:
    """dagserve on `model` in a thread of this process; yields its base URL."""
    config = ServeConfig.model_validate({"model": str(model), "port": 0, "parallel": parallel, "ctx": 2560})
    service = load_service(config)
    sock = bind(config.host, 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        service.runtime.close()


def run(url: str, bodies: list[dict[str, Any]], parallel: int) -> dict[str, Any]:
    def one(body: dict[str, Any]) -> tuple[str, int]:
        data = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1800).json()
        return data["choices"][0]["message"]["content"], data["usage"]["completion_tokens"]

    refused = httpx.get(f"{url}/health").json()["grammar_refused_tokens"]
    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(one, bodies))
    wall = time.perf_counter() - start
    made = sum(n for _, n in answers)
    refused = httpx.get(f"{url}/health").json()["grammar_refused_tokens"] - refused
    return {"tokens": made, "wall_s": wall, "tps": made / wall, "refused": refused, "answers": [a for a, _ in answers]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, nargs="*", default=None)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    models = args.model or [resolve_model(None)]
    rng = random.Random(2026)
    bodies = []
    for i in range(args.requests):
        version = ("3.1", "2.10")[i % 2]
        request = draw(rng, version).requests[0]
        fields = {"max_tokens": args.tokens, "temperature": 0.0, "repeat_penalty": 1.0, "stop_repeats": 3}
        body = with_answer_grammar(fields, DEFAULT_CONTRACT, request=request, airflow_version=version)
        bodies.append({"messages": DEFAULT_CONTRACT.messages(request, version), **body})
    rows = []
    for model in models:
        runs: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
        with served(model, args.parallel) as url:
            run(url, bodies[:2], args.parallel)  # warm-up: the grammars, the prompt cache
            for _ in range(args.repeats):
                for way, quick in WAYS.items():
                    GuidedSampler.QUICK_CANDIDATES = quick  # read by the engine's thread at each refused pick
                    runs[way].append(run(url, bodies, args.parallel))
                    print(f"{model.name}: {way}: {runs[way][-1]['tps']:.1f} tok/s", flush=True)
        # Slots decoded together give slightly different logits than alone: the mask's own runs, compared, are the
        # floor of how alike two runs' answers can be.
        first = runs["mask on refusal"][0]["answers"]
        for way_runs in runs.values():
            for found in way_runs:
                found["same_as_first_mask_run"] = sum(a == b for a, b in zip(first, found["answers"], strict=True))
        best = {way: max(way_runs, key=lambda r: r["tps"]) for way, way_runs in runs.items()}
        rows.append({"model": str(model), "best": best, "runs": runs})
    print(f"\n{len(bodies)} composed requests, {args.parallel} at once, greedy, up to {args.tokens} tokens, best of "
          f"{args.repeats}\n")  # fmt: skip
    print("| model | way | tokens | refused picks | tok/s | ratio | answers as the first mask run's, each run |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        base = row["best"]["mask on refusal"]["tps"]
        for way in WAYS:
            r = row["best"][way]
            same = ", ".join(str(found["same_as_first_mask_run"]) for found in row["runs"][way])
            print(f"| {Path(row['model']).name} | {way} | {r['tokens']} | {r['refused']} | {r['tps']:.1f} | "
                  f"{r['tps'] / base:.2f}x | {same} of {len(bodies)} |")  # fmt: skip
    for row in rows:
        for way_runs in row["runs"].values():
            for found in way_runs:
                del found["answers"]
        del row["best"]
    out = Path("bench/results/quick_pick.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"requests": len(bodies), "parallel": args.parallel, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
