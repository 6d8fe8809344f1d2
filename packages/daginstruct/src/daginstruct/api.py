"""`instruct()`: requests for every DAG, through the chosen backend, into `instructions.jsonl`."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from daginstruct.backends.anthropic_batch import RETRY_BUDGET, AnthropicBatchBackend
from daginstruct.backends.anthropic_messages import AnthropicMessagesBackend
from daginstruct.backends.base import Backend, Progress
from daginstruct.backends.openai_compat import OpenAICompatBackend
from daginstruct.backends.template import TemplateBackend, metadata_from_code
from daginstruct.exceptions import ConfigError, InputError
from daginstruct.models import DagInput, Instruction, InstructionRequest, Usage
from daginstruct.pricing import CostEstimate, cost_usd, estimate
from daginstruct.store import Store, write_json_atomic
from daginstruct.styles import STYLES, build_requests

BackendName = Literal["auto", "anthropic-batch", "anthropic", "openai", "template"]
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
INSTRUCTIONS = "instructions.jsonl"
MANIFEST = "manifest.json"


class InstructConfig(BaseModel):
    """How to write the requests. Part of the manifest: a change re-runs the stage."""

    backend: BackendName = "auto"
    """`auto`: Anthropic batches when ANTHROPIC_API_KEY is set, else the offline template backend."""
    model: str | None = None
    """Defaults to claude-haiku-4-5 for Anthropic; required for an OpenAI-compatible endpoint."""
    styles: list[str] = Field(default_factory=lambda: list(STYLES))
    per_dag: int = 3
    """How many of `styles` each DAG gets (rotated by DAG id when fewer than all)."""
    base_url: str | None = None
    """The OpenAI-compatible endpoint, or another Anthropic API address."""
    concurrency: int = 4
    max_attempts: int = 3
    poll_interval: float = 30.0
    retry_budget: float = Field(RETRY_BUDGET, ge=0)
    """Seconds the batch backend backs off through an outage (529 overloaded, rate limits, 5xx, no network)
    that outlasts the SDK's own retries, before it stops with a message to run it again."""


class InstructSummary(BaseModel):
    out_dir: Path
    skipped: bool
    backend: str
    model: str
    requested: int
    written: int
    failed: int
    """Requests that used all their attempts without a valid answer."""
    rejects: dict[str, int]
    usage: Usage
    cost_usd: float | None


def read_dags(path: str | Path) -> list[DagInput]:
    """DAG records from a JSONL file (dagmine's `dags.jsonl`, or the folder holding it)."""
    file = Path(path)
    if file.is_dir():
        file = file / "dags.jsonl"
    if not file.is_file():
        raise InputError(f"{file} does not exist: run `airflow-net mine` first, or give a dags.jsonl")
    dags: list[DagInput] = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            dags.append(DagInput.model_validate_json(line))
        except ValueError as e:
            raise InputError(f"{file}:{number}: not a DAG record with id and code ({str(e).splitlines()[0]})") from e
    return dags


def as_inputs(dags: Iterable[object]) -> list[DagInput]:
    """Anything with `id`, `code` and a version (`airflow_version` or `last_version`): models, dicts, objects."""
    inputs: list[DagInput] = []
    for dag in dags:
        if isinstance(dag, DagInput):
            inputs.append(dag)
        elif isinstance(dag, dict):
            inputs.append(DagInput.model_validate(dag))
        else:
            inputs.append(DagInput.model_validate(dag, from_attributes=True))
    return inputs


def _backend_name(config: InstructConfig) -> str:
    if config.backend != "auto":
        return config.backend
    return "anthropic-batch" if os.environ.get("ANTHROPIC_API_KEY") else "template"


def _anthropic_client(config: InstructConfig) -> Any:
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise ConfigError("the Anthropic backends need ANTHROPIC_API_KEY in the environment (it is never stored)")
    import anthropic

    return anthropic.Anthropic(base_url=config.base_url) if config.base_url else anthropic.Anthropic()


def make_backend(config: InstructConfig, dags: list[DagInput], work_dir: Path) -> Backend:
    name = _backend_name(config)
    if name == "template":
        return TemplateBackend({d.id: metadata_from_code(d) for d in dags})
    if name == "openai":
        if not config.base_url or not config.model:
            raise ConfigError("the openai backend needs --base-url (e.g. http://127.0.0.1:8080/v1) and --model")
        return OpenAICompatBackend(
            config.base_url, config.model, concurrency=config.concurrency, max_attempts=config.max_attempts
        )
    model = config.model or DEFAULT_ANTHROPIC_MODEL
    client = _anthropic_client(config)
    if name == "anthropic":
        return AnthropicMessagesBackend(client, model, concurrency=config.concurrency, max_attempts=config.max_attempts)
    return AnthropicBatchBackend(
        client,
        model,
        work_dir,
        max_attempts=config.max_attempts,
        poll_interval=config.poll_interval,
        retry_budget=config.retry_budget,
    )


def _work_dir(out: Path, backend: str, model: str) -> Path:
    # Results of different backends or models never mix: each has its own store.
    return out / ".work" / re.sub(r"[^\w.-]+", "_", f"{backend}-{model}")


def _fingerprint(requests: list[InstructionRequest], backend: str, model: str, config: InstructConfig) -> str:
    digest = hashlib.sha256()
    for request in requests:
        digest.update(f"{request.custom_id}\0{request.prompt}\0{request.system}\0".encode())
    keep = config.model_dump(mode="json", include={"styles", "per_dag", "max_attempts"})
    digest.update(json.dumps([backend, model, keep, _version()], sort_keys=True).encode())
    return digest.hexdigest()


def _version() -> str:
    return importlib.metadata.version("daginstruct")


def estimate_cost(dags: Iterable[object], config: InstructConfig | None = None) -> CostEstimate:
    """Token counts and dollars before anything is sent (batch discount applied for the batch backend)."""
    config = config or InstructConfig()
    name = _backend_name(config)
    model = config.model or DEFAULT_ANTHROPIC_MODEL
    requests = build_requests(as_inputs(dags), config.styles, config.per_dag)
    return estimate(requests, model, batch=name != "anthropic")


def instruct(
    dags: Iterable[object],
    out_dir: str | Path,
    config: InstructConfig | None = None,
    *,
    progress: Progress | None = None,
    backend: Backend | None = None,
) -> InstructSummary:
    """Write `instructions.jsonl` and `manifest.json` into `out_dir`. Safe to interrupt and run again."""
    config = config or InstructConfig()
    report: Progress = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    inputs = as_inputs(dags)
    if not inputs:
        raise InputError("no DAG records to write requests for")
    requests = build_requests(inputs, config.styles, config.per_dag)
    name = backend.name if backend else _backend_name(config)
    model = backend.model if backend else (config.model or (DEFAULT_ANTHROPIC_MODEL if "anthropic" in name else ""))
    if name == "template":
        model = "template-v1"
    fingerprint = _fingerprint(requests, name, model, config)
    out.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out)
    if (
        previous
        and previous.get("fingerprint") == fingerprint
        and previous.get("failed") == 0
        and _sha256(out / INSTRUCTIONS) == previous.get("outputs", {}).get(INSTRUCTIONS)
    ):
        return InstructSummary(out_dir=out, skipped=True, **previous["summary"])
    work = _work_dir(out, name, model)
    store = Store(work)
    backend = backend or make_backend(config, inputs, work)
    backend.run(requests, store, report)
    return _finish(out, requests, store, name, model, config, fingerprint)


def _finish(
    out: Path,
    requests: list[InstructionRequest],
    store: Store,
    backend: str,
    model: str,
    config: InstructConfig,
    fingerprint: str,
) -> InstructSummary:
    written: list[Instruction] = [store.instructions[r.custom_id] for r in requests if store.done(r.custom_id)]
    tmp = out / f".{INSTRUCTIONS}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        for instruction in written:
            handle.write(instruction.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(out / INSTRUCTIONS)
    usage = Usage(
        input_tokens=sum(i.usage.input_tokens for i in written),
        output_tokens=sum(i.usage.output_tokens for i in written),
    )
    summary = InstructSummary(
        out_dir=out,
        skipped=False,
        backend=backend,
        model=model,
        requested=len(requests),
        written=len(written),
        failed=len(requests) - len(written),
        rejects=store.reject_counts(),
        usage=usage,
        cost_usd=_cost(usage, model, batch=backend == "anthropic-batch"),
    )
    styles = Counter(i.style for i in written)
    write_json_atomic(
        out / MANIFEST,
        {
            "stage": "instruct",
            "package": "daginstruct",
            "version": _version(),
            "fingerprint": fingerprint,
            "config": config.model_dump(mode="json"),
            "failed": summary.failed,
            "styles": dict(sorted(styles.items())),
            "summary": summary.model_dump(mode="json", exclude={"out_dir", "skipped"}),
            "outputs": {INSTRUCTIONS: _sha256(out / INSTRUCTIONS)},
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    return summary


def _cost(usage: Usage, model: str, *, batch: bool) -> float | None:
    try:
        return cost_usd(usage.input_tokens, usage.output_tokens, model, batch=batch)
    except ConfigError:
        return None  # a local or unknown model: no price to show


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
