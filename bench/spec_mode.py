"""The JSON-spec variant: a model fills dagsynth's DAG spec under its JSON schema and a renderer writes the file.

    uv run python bench/spec_mode.py --config configs/laptop.yaml --source out/laptop --out out/spec [--steps 150]

Its own row, never mixed into the free-code numbers. Three steps, each resumed when run again:

1. Training data: composed designs (`dagsynth.compose.draw`, a seed of its own) that the spec can say, each of their
   two requests with the design's spec as the answer (`dagsynth.spec.spec_conversation`). Requests within the
   dataset's overlap threshold of a benchmark request are dropped, as the dataset stage drops them.
2. Trains the source run's base model on them with the config's train settings (`--steps` of them), exports q8_0.
3. On the benchmark's first `eval.benchmark.max_prompts` requests: the untuned base (the guide and one worked
   example in its prompt) and the spec-tuned model (the one-line task it learned), each answer decoded by dagserve
   under `SPEC_SCHEMA` (greedy, the config's max_tokens), rendered for the requested Airflow version and judged by
   dageval up to intent in a real Airflow. Failures below import are asked again as `airflow-net generate` asks
   (dagcore.RETRY_BY_DEFAULT: afresh, sampled), up to `eval.repairs` times.

Prints the table and writes bench/results/spec_mode.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import dagdata
import dageval
import dagtune
from airflow_net.pipeline import stages
from airflow_net.pipeline.config import PipelineConfig, load_pipeline_config
from dagcore import RETRY_BY_DEFAULT
from dagcore.chat import ChatClient
from dagdata._leaks import closest
from dagsynth.compose import draw
from dagsynth.spec import (
    SPEC_FORMAT,
    SPEC_RESPONSE_FORMAT,
    DagSpec,
    render_spec,
    spec_conversation,
    spec_messages,
    spec_of,
)


class Answer(BaseModel):
    prompt_id: str
    attempt: int
    text: str
    finish_reason: str | None
    tokens: int
    seconds: float


def training_rows(config: PipelineConfig, designs: int, seed: int) -> tuple[list[list[dict[str, str]]], dict[str, int]]:
    rng = random.Random(seed)
    benchmark = [p.request or "" for p in dageval.read_prompts(stages.benchmark_requests(config))]
    rows: list[list[dict[str, str]]] = []
    counts = {"designs": designs, "said": 0, "requests": 0, "benchmark_overlap": 0}
    seen: set[str] = set()
    for i in range(designs):
        design = draw(rng, "3.1" if i % 2 else "2.10")
        spec = spec_of(design)
        if spec is None:
            continue
        counts["said"] += 1
        fresh = [r for r in design.requests if r not in seen]
        seen.update(fresh)
        near = closest(fresh, benchmark)
        for request, score in zip(fresh, near, strict=True):
            counts["requests"] += 1
            if score >= dagdata.DatasetConfig().overlap_threshold:
                counts["benchmark_overlap"] += 1
                continue
            rows.append(spec_conversation(request, spec))
    rng.shuffle(rows)
    return rows, counts


def write_dataset(rows: list[list[dict[str, str]]], folder: Path) -> None:
    from datasets import Dataset, DatasetDict

    if (folder / "hf" / "dataset_dict.json").is_file():
        return
    held = max(8, len(rows) // 50)
    data = DatasetDict(
        {
            "train": Dataset.from_list([{"messages": m} for m in rows[held:]]),
            "test": Dataset.from_list([{"messages": m} for m in rows[:held]]),
        }
    )
    data.save_to_disk(str(folder / "hf"))


def answer_all(
    endpoint: str,
    prompts: list[dageval.Prompt],
    guide: bool,
    attempt: int,
    max_tokens: int,
    parallel: int,
    file: Path,
) -> dict[str, Answer]:
    done = {a.prompt_id: a for a in map(Answer.model_validate_json, _lines(file)) if a.attempt == attempt}
    todo = [p for p in prompts if p.id not in done]
    client = ChatClient(endpoint, timeout=600)
    temperature = 0.0 if attempt == 0 else RETRY_BY_DEFAULT.temperature

    def one(p: dageval.Prompt) -> Answer:
        reply = client.chat(
            spec_messages(p.request or "", guide=guide),
            max_tokens=max_tokens,
            temperature=temperature,
            seed=None if attempt == 0 else 1000 + attempt,
            extra={"response_format": SPEC_RESPONSE_FORMAT},
        )
        return Answer(
            prompt_id=p.id,
            attempt=attempt,
            text=reply.text,
            finish_reason=reply.finish_reason,
            tokens=reply.usage.completion_tokens,
            seconds=reply.seconds,
        )

    with ThreadPoolExecutor(parallel) as pool, file.open("a", encoding="utf-8") as out:
        for answer in pool.map(one, todo):
            out.write(answer.model_dump_json() + "\n")
            out.flush()
            done[answer.prompt_id] = answer
    return done


def _lines(file: Path) -> list[str]:
    return [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()] if file.exists() else []


def to_sample(p: dageval.Prompt, answer: Answer) -> tuple[dageval.Sample, str]:
    """The answer as the file it renders to; `why` says when it is no spec (cut at the token limit)."""
    try:
        spec = DagSpec.model_validate_json(answer.text)
    except ValidationError as e:
        completion, why = "", f"not a spec: {str(e).splitlines()[0]}"
    else:
        completion, why = f"```python\n{render_spec(spec, p.airflow_version or '3.1')}```", ""
    sample = dageval.Sample(
        id=f"{p.id}-{answer.attempt}",
        prompt_id=p.id,
        completion=completion,
        finish_reason=answer.finish_reason,
        airflow_version=p.airflow_version,
        expect=p.expect,
    )
    return sample, why


def judge(
    name: str,
    endpoint: str,
    prompts: list[dageval.Prompt],
    guide: bool,
    config: PipelineConfig,
    folder: Path,
) -> dict[str, Any]:
    section = config.eval
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "answers.jsonl"
    (folder / "verdicts.jsonl").unlink(missing_ok=True)  # judged again on every run; answers are kept
    rates: list[float] = []
    passed: dict[str, dageval.Verdict] = {}
    first: dict[str, dageval.Verdict] = {}
    handed: dict[str, dageval.Verdict] = {}
    answers: list[Answer] = []
    for attempt in range(section.repairs + 1):
        asked = [p for p in prompts if p.id not in passed]
        got = answer_all(endpoint, asked, guide, attempt, section.max_tokens, section.parallel, file)
        answers += [got[p.id] for p in asked]
        made = [to_sample(p, got[p.id]) for p in asked]
        verdicts = dageval.evaluate(
            [s for s, _ in made], level=dageval.Level.INTENT, install_providers=section.install_providers
        )
        with (folder / "verdicts.jsonl").open("a", encoding="utf-8") as out:
            for (sample, why), v in zip(made, verdicts, strict=True):
                found = v.failure or v.results[-1]
                reached = v.passed.label if v.passed is not None else None
                row = {
                    "id": sample.id,
                    "passed": reached,
                    "category": found.category,
                    "why": why or found.message[:300],
                }
                out.write(json.dumps(row) + "\n")
        for p, v in zip(asked, verdicts, strict=True):
            if attempt == 0:
                first[p.id] = v
            if v.passed is not None and v.passed >= dageval.Level.IMPORT:
                passed[p.id] = v
            handed[p.id] = v
        rates.append(len(passed) / len(prompts))
    level = dageval.Level
    n = len(prompts)

    def rate(verdicts: dict[str, dageval.Verdict], at: dageval.Level) -> float:
        return sum(v.passed is not None and v.passed >= at for v in verdicts.values()) / n

    why: dict[str, int] = {}
    for v in first.values():
        if v.passed is None or v.passed < level.INTENT:
            found = v.failure or v.results[-1]
            why[found.category or found.level.label] = why.get(found.category or found.level.label, 0) + 1
    tokens = sum(a.tokens for a in answers)
    seconds = sum(a.seconds for a in answers)
    return {
        "model": name,
        "structure": rate(first, level.STRUCTURE),
        "import": rate(first, level.IMPORT),
        "intent": rate(first, level.INTENT),
        "import_after_retries": rates,
        "intent_after_retries": rate(handed, level.INTENT),
        "cut_at_limit": sum(a.finish_reason == "length" for a in answers if a.attempt == 0),
        "first_failures": dict(sorted(why.items(), key=lambda kv: -kv[1])),
        "tokens_per_answer": tokens / max(len(answers), 1),
        "tokens_per_s_per_request": tokens / seconds if seconds else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True, help="a pipeline run's out folder, base stage done")
    parser.add_argument("--out", type=Path, default=Path("out/spec"))
    parser.add_argument("--designs", type=int, default=1200, help="composed designs drawn for training")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()
    config = load_pipeline_config(args.config)

    def report(label: str, done: int, total: int) -> None:
        if done == total:
            print(f"  {label}: {done}/{total}", flush=True)

    started = time.perf_counter()
    models = stages.base(config, args.source / "base", report)
    prompts = dageval.read_prompts(stages.benchmark_requests(config))[: config.eval.benchmark.max_prompts or None]
    serve = stages.serve(config, args.out / "serve")
    results = []
    t = time.perf_counter()
    # The untuned base first: what a user runs without our training, and a check of the whole loop before training.
    with serve(models.gguf.gguf) as endpoint:
        results.append(
            judge("base, guided", endpoint, prompts, True, config, args.out / f"eval-spec{SPEC_FORMAT}" / "base")
        )
    print(json.dumps(results[-1]), flush=True)
    judge_seconds = time.perf_counter() - t
    rows, counts = training_rows(config, args.designs, args.seed)
    write_dataset(rows, args.out / "dataset")
    print(f"training data: {counts}, {len(rows)} conversations", flush=True)
    settings = {
        **config.train.settings,
        "base_model": str(models.hf.hf_dir),
        "dataset": args.out / "dataset",
        "output_dir": args.out / "train",
        "max_steps": args.steps,
        "eval_steps": args.steps,
        "save_steps": 25,
    }
    t = time.perf_counter()
    trained = stages.train_model(settings, config, report)
    train_minutes = (time.perf_counter() - t) / 60
    exported = dagtune.export(
        trained.run_dir,
        out_dir=args.out / "export",
        quant=config.export.quant,
        verify_tokens=config.export.verify_tokens,
    )
    tuned = exported.quantized.path if exported.quantized else exported.f16
    t = time.perf_counter()
    with serve(tuned) as endpoint:
        folder = args.out / f"eval-spec{SPEC_FORMAT}"
        results.append(judge("spec-tuned", endpoint, prompts, False, config, folder / "tuned"))
        print(json.dumps(results[-1]), flush=True)
        # The guide a user's `--spec` sends any model, sent to the spec-tuned one: does training need its own prompt?
        results.append(judge("spec-tuned, guided", endpoint, prompts, True, config, folder / "tuned-guided"))
        print(json.dumps(results[-1]), flush=True)
    judge_minutes = (judge_seconds + time.perf_counter() - t) / 60
    retries = config.eval.repairs
    print(
        f"\n| spec mode ({len(prompts)} requests) | structure | import | intent | import after {retries} retries |"
        f" intent after {retries} | answers cut | tokens/answer |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['model']} | {r['structure']:.1%} | {r['import']:.1%} | {r['intent']:.1%} | "
            f"{r['import_after_retries'][-1]:.1%} | {r['intent_after_retries']:.1%} | {r['cut_at_limit']} | "
            f"{r['tokens_per_answer']:.0f} |"
        )
    for r in results:
        print(f"{r['model']}: first answers below intent: {r['first_failures']}")
    print(
        f"training {train_minutes:.1f} min ({args.steps} steps), judging {judge_minutes:.1f} min, "
        f"all {(time.perf_counter() - started) / 60:.1f} min"
    )
    out = Path("bench/results/spec_mode.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "data": counts,
        "conversations": len(rows),
        "steps": args.steps,
        "results": results,
        "train_loss": [trained.first_loss, trained.last_loss],
    }
    out.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
