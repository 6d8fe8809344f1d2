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

from pydantic import BaseModel, Field, ValidationError

from dagcore import (
    AirflowVersion,
    ChatClient,
    ChatError,
    Expect,
    Judge,
    PromptContract,
    Retry,
    repair_loop,
    with_answer_grammar,
)
from dageval.exceptions import GenerationError, InputError
from dageval.inputs import row_version
from dageval.models import RepairStep, Sample
from dageval.repairs import steps_of


class Prompt(BaseModel):
    id: str
    request: str | None = None
    """The user's words alone: they are stated through the served model's own prompt contract (the one in its
    GGUF, read from dagserve; the default for other servers), exactly as `airflow-net generate` states them."""
    messages: list[dict[str, str]] = Field(default_factory=list)
    """A conversation sent as it is, when the prompt set holds no bare request."""
    airflow_version: AirflowVersion | None = None
    expect: Expect | None = None
    """What the DAG must show (a benchmark row's `expect`), carried to the sample for the intent level."""
    tags: list[str] = Field(default_factory=list)

    def conversation(self, contract: PromptContract) -> list[dict[str, str]]:
        """What is sent to a model prompted by `contract`."""
        if self.request is not None:
            return contract.messages(self.request, self.airflow_version)
        return self.messages


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
    repairs: int = 0
    """Run the generate-validate-repair loop with up to this many repairs per sample (needs a judge)."""
    retry: Retry = Retry()
    """How the loop asks again after a rejected answer (dagcore.Retry: feedback at `temperature` by default)."""
    grammar: bool = False
    """Decode every answer under the Python answer grammar of the served model's contract
    (`dagcore.python_answer_grammar`, sent as llama.cpp's `grammar` field): answers that parse, in one block."""


def read_prompts(path: str | Path) -> list[Prompt]:
    """Prompts from dagdata's `test.jsonl` (the bare `request`, stated later by the served model's contract;
    older sets: their messages minus the reference answer), or `{"id", "prompt"}` rows (a user message)."""
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
        prompts.append(_prompt(row, f"p{number:06d}", f"{source}:{number}"))
    return prompts


def _prompt(row: dict[str, Any], default_id: str, where: str) -> Prompt:
    prompt_id = str(row.get("id") or default_id)
    extra = _benchmark_fields(row, where)
    request = row.get("request")
    if isinstance(request, str) and request.strip():
        return Prompt(id=prompt_id, request=request.strip(), airflow_version=row_version(row, "", where), **extra)
    if "messages" in row:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]]
        while messages and messages[-1]["role"] == "assistant":
            messages.pop()  # the reference answer is what the model must write
    elif "prompt" in row:
        messages = [{"role": "user", "content": str(row["prompt"])}]
    else:
        raise InputError(f"{where}: a prompt needs `messages` or `prompt` (or the `request` of a dataset row)")
    if not messages:
        raise InputError(f"{where}: no user message to answer")
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    return Prompt(id=prompt_id, messages=messages, airflow_version=row_version(row, user, where), **extra)


def _benchmark_fields(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A benchmark row's `expect` and `tags` (absent from other prompt sets)."""
    try:
        expect = Expect.model_validate(row["expect"]) if row.get("expect") else None
    except ValidationError as e:
        raise InputError(f"{where}: expect: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}") from e
    return {"expect": expect, "tags": [str(t) for t in row.get("tags") or []]}


def _ask(client: ChatClient, config: GenerateConfig, prompt: Prompt, index: int, judge: Judge | None) -> dict[str, Any]:
    temperature = config.temperature if config.temperature is not None else (0.8 if config.n > 1 else 0.0)
    contract = client.contract()
    messages = prompt.conversation(contract)
    extra = (
        with_answer_grammar(config.extra, contract, prompt.request, messages, prompt.airflow_version)
        if config.grammar
        else config.extra
    )
    steps: list[RepairStep] = []
    try:
        if judge is not None and config.repairs > 0:
            repair = repair_loop(
                client,
                judge,
                prompt.request or "",
                prompt.airflow_version,
                max_attempts=config.repairs + 1,
                max_tokens=config.max_tokens,
                temperature=temperature,
                seed=index,
                extra=extra,
                messages=messages,
                retry=config.retry,
            )
            answer, steps = repair.turns[0].answer, steps_of(repair.turns)
        else:
            answer = client.chat(
                messages,
                max_tokens=config.max_tokens,
                temperature=temperature,
                seed=index,
                stop=contract.stop,
                extra=extra,
            )
    except ChatError as e:
        if e.status is not None and e.status < 500 and e.status not in (408, 409, 429):
            raise GenerationError(f"{config.endpoint} refused the request: {e}") from e
        raise GenerationError(f"{config.endpoint} kept failing ({e}): is the server running?") from e
    return {
        "id": f"{prompt.id}#{index}",
        "prompt_id": prompt.id,
        "sample_index": index,
        "airflow_version": str(prompt.airflow_version) if prompt.airflow_version else None,
        "messages": [*messages, {"role": "assistant", "content": answer.text}],
        "finish_reason": answer.finish_reason,
        "expect": prompt.expect.model_dump(exclude_defaults=True) if prompt.expect else None,
        "tags": prompt.tags,
        "repairs": [step.model_dump() for step in steps],
    }


def generate(
    prompts: list[Prompt],
    config: GenerateConfig,
    out_file: Path,
    progress: Callable[[int, int], None] | None = None,
    judge: Judge | None = None,
) -> list[Sample]:
    """n completions per prompt into `out_file` (JSONL, appended as they come); the samples, in order.

    With `config.repairs` > 0, each sample runs the repair loop with `judge` (e.g. a `dageval.Validator`), and
    the sample keeps every answer (`Sample.repairs`); its completion is the first, single-shot answer."""
    if config.repairs > 0 and judge is None:
        raise InputError("repairs need a judge: pass a dageval.Validator")
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
    lock = threading.Lock()
    count = len(wanted) - len(todo)
    with (
        ChatClient(
            config.endpoint, api_key=config.api_key, model=config.model, timeout=config.timeout, retries=config.retries
        ) as client,
        out_file.open("a", encoding="utf-8") as handle,
    ):

        def one(item: tuple[Prompt, int]) -> None:
            nonlocal count
            row = _ask(client, config, *item, judge)
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
                expect=prompt.expect,
                tags=prompt.tags,
                repairs=[RepairStep.model_validate(step) for step in row.get("repairs") or []],
            )
        )
    return samples
