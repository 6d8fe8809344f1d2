"""A live generator: n completions per prompt from any OpenAI-compatible endpoint, resumable.

Prompts come from a JSONL prompt set such as dagdata's `test.jsonl` (chat rows whose trailing
assistant turn, the reference answer, is dropped) or `{"id", "prompt"}` rows. Completions are
appended to a JSONL file as they arrive, so a killed run resumes where it stopped and a finished
one is not asked again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from dageval.evaluate import version_from_prompt
from dageval.exceptions import GenerationError, InputError
from dageval.models import Sample


class Prompt(BaseModel):
    id: str
    messages: list[dict[str, str]]
    airflow_version: str | None = None


class GenerateConfig(BaseModel):
    endpoint: str
    """Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1."""
    model: str = "default"
    n: int = 1
    temperature: float | None = None
    """Sampling temperature; default 0 (greedy) for n == 1 and 0.8 for n > 1 (pass@k needs variety)."""
    max_tokens: int = 1024
    concurrency: int = 4
    api_key: str | None = None
    timeout: float = 600.0
    retries: int = 3
    extra: dict[str, Any] = {}
    """More request fields, sent as they are (e.g. `repeat_penalty` for llama.cpp-based servers)."""


def read_prompts(path: str | Path) -> list[Prompt]:
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source} does not exist: give a prompt set such as the dataset's test.jsonl")
    prompts = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{source}:{number}: not JSON ({e.msg})") from e
        if "messages" in row:
            messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]]
            while messages and messages[-1]["role"] == "assistant":
                messages.pop()  # the reference answer is what the model must write
        elif "prompt" in row:
            messages = [{"role": "user", "content": str(row["prompt"])}]
        else:
            raise InputError(f"{source}:{number}: a prompt needs `messages` or `prompt`")
        if not messages:
            raise InputError(f"{source}:{number}: no user message to answer")
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        version = row.get("airflow_version") or version_from_prompt(user)
        prompts.append(Prompt(id=str(row.get("id") or f"p{number:06d}"), messages=messages, airflow_version=version))
    return prompts


def _ask(client: httpx.Client, config: GenerateConfig, prompt: Prompt, index: int) -> dict[str, Any]:
    temperature = config.temperature if config.temperature is not None else (0.8 if config.n > 1 else 0.0)
    body = {
        "model": config.model,
        "messages": prompt.messages,
        "max_tokens": config.max_tokens,
        "temperature": temperature,
        "seed": index,
        **config.extra,
    }
    error = ""
    for _ in range(config.retries + 1):
        try:
            response = client.post("/chat/completions", json=body)
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
            continue
        if response.status_code in (429, 500, 502, 503, 529):
            error = f"HTTP {response.status_code}"
            continue
        if response.status_code >= 400:
            raise GenerationError(
                f"{config.endpoint} refused the request: {response.status_code} {response.text[:300]}"
            )
        choice = response.json()["choices"][0]
        return {
            "id": f"{prompt.id}#{index}",
            "prompt_id": prompt.id,
            "sample_index": index,
            "airflow_version": prompt.airflow_version,
            "messages": [*prompt.messages, {"role": "assistant", "content": choice["message"]["content"] or ""}],
            "finish_reason": choice.get("finish_reason"),
        }
    raise GenerationError(f"{config.endpoint} kept failing ({error}): is the server running?")


def generate(
    prompts: list[Prompt],
    config: GenerateConfig,
    out_file: Path,
    progress: Callable[[int, int], None] | None = None,
) -> list[Sample]:
    """n completions per prompt into `out_file` (JSONL, appended as they come); the samples, in order."""
    done: dict[str, dict[str, Any]] = {}
    if out_file.is_file():
        for line in out_file.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill mid-write: asked again
            done[row["id"]] = row
    wanted = [(p, i) for p in prompts for i in range(config.n)]
    todo = [(p, i) for p, i in wanted if f"{p.id}#{i}" not in done]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    lock = threading.Lock()
    count = len(wanted) - len(todo)
    with (
        httpx.Client(base_url=config.endpoint.rstrip("/"), timeout=config.timeout, headers=headers) as client,
        out_file.open("a", encoding="utf-8") as handle,
    ):

        def one(item: tuple[Prompt, int]) -> None:
            nonlocal count
            row = _ask(client, config, *item)
            with lock:
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                done[row["id"]] = row
                count += 1
                if progress:
                    progress(count, len(wanted))

        with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as pool:
            list(pool.map(one, todo))
    samples = []
    for prompt, index in wanted:
        row = done[f"{prompt.id}#{index}"]
        samples.append(
            Sample(
                id=row["id"],
                prompt_id=prompt.id,
                completion=row["messages"][-1]["content"],
                finish_reason=row.get("finish_reason"),
                airflow_version=prompt.airflow_version,
            )
        )
    return samples
