"""Anthropic Message Batches: half price, resumable, never submitting a finished request twice.

State lives in `batch_state.json` next to the result store and is rewritten atomically at every
step. Before a batch is created its requests are written down as an *intent*; the batch id is
recorded right after. If the process dies between the two, the next run finds the batch the
server made (created after the intent, with the same request count) and adopts it instead of
submitting again. Results are appended to the store as they stream, so a kill while collecting
loses nothing either.

The same holds within a run: when the API stays overloaded (529), rate-limited or unreachable past the
SDK's own retries, the run backs off and carries on from its state, within `retry_budget` seconds of waiting,
then stops with a `BackendError` that says to run it again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx
from pydantic import BaseModel, Field

from daginstruct.backends._outage import Outage
from daginstruct.backends.anthropic_messages import params, text_of
from daginstruct.backends.base import Progress, accept
from daginstruct.exceptions import BackendError
from daginstruct.models import InstructionRequest, Outcome, Usage
from daginstruct.store import Store, write_json_atomic

STATE = "batch_state.json"
MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
_SAFETY = 0.95  # stay clear of the limit: the server counts the whole request body
RETRY_BUDGET = 900.0
# What the SDK retries itself (overloaded, rate limits, 5xx, the network), and a results stream cut mid-way.
_TRANSIENT = (
    anthropic.APIConnectionError,
    anthropic.RateLimitError,
    anthropic.InternalServerError,
    httpx.TransportError,
)


class Intent(BaseModel):
    id: str
    created_at: datetime
    custom_ids: list[str]
    batch_id: str | None = None


class BatchRecord(BaseModel):
    custom_ids: list[str]
    created_at: datetime
    status: str = "in_progress"
    """`in_progress` until the server says `ended`, then `collected` once every result is stored."""


class BatchState(BaseModel):
    model: str = ""
    intents: list[Intent] = Field(default_factory=list)
    batches: dict[str, BatchRecord] = Field(default_factory=dict)


def load_state(work_dir: Path) -> BatchState:
    path = work_dir / STATE
    return BatchState.model_validate_json(path.read_bytes()) if path.is_file() else BatchState()


def chunk(items: Sequence[dict[str, Any]], max_requests: int, max_bytes: int) -> Iterator[list[dict[str, Any]]]:
    """Split batch requests within the API's limits on count and on body size."""
    current: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item).encode()) + 2
        if current and (len(current) >= max_requests or size + item_size > max_bytes * _SAFETY):
            yield current
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        yield current


class AnthropicBatchBackend:
    name = "anthropic-batch"

    def __init__(
        self,
        client: Any,
        model: str,
        work_dir: Path,
        *,
        max_attempts: int = 3,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
        retry_budget: float = RETRY_BUDGET,
        clock: Any = time,
    ) -> None:
        self.client = client
        self.model = model
        self.work_dir = work_dir
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.retry_budget = retry_budget
        """Seconds of backing off through one outage the SDK's retries did not outlast, before stopping."""
        self.clock = clock
        self.state = load_state(work_dir)
        self.state.model = self.state.model or model

    def _save(self) -> None:
        write_json_atomic(self.work_dir / STATE, self.state.model_dump(mode="json"))

    # --- after a crash -----------------------------------------------------------------------------
    def _adopt_orphans(self) -> None:
        """Intents without a batch id: the process died between creating the batch and recording it."""
        orphans = [i for i in self.state.intents if i.batch_id is None]
        if not orphans:
            return
        known = set(self.state.batches)
        oldest = min(i.created_at for i in orphans) - timedelta(minutes=5)
        candidates = []
        for batch in self.client.messages.batches.list(limit=100):
            created = _aware(batch.created_at)
            if created < oldest:
                break  # listed newest first
            if batch.id not in known:
                candidates.append(batch)
        for intent in orphans:
            for batch in candidates:
                counts = batch.request_counts
                total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
                if _aware(batch.created_at) >= intent.created_at - timedelta(minutes=1) and total == len(
                    intent.custom_ids
                ):
                    intent.batch_id = batch.id
                    self.state.batches[batch.id] = BatchRecord(
                        custom_ids=intent.custom_ids, created_at=_aware(batch.created_at)
                    )
                    candidates.remove(batch)
                    break
        # An intent the server never saw is dropped: its requests are submitted again.
        self.state.intents = [i for i in self.state.intents if i.batch_id is not None]
        self._save()

    # --- submit, poll, collect -----------------------------------------------------------------------
    def _in_flight(self) -> set[str]:
        return {c for b in self.state.batches.values() if b.status != "collected" for c in b.custom_ids}

    def _submit(self, todo: Sequence[InstructionRequest], progress: Progress) -> None:
        items = [{"custom_id": r.custom_id, "params": params(r, self.model)} for r in todo]
        submitted = 0
        for part in chunk(items, self.max_requests, self.max_bytes):
            intent = Intent(
                id=uuid.uuid4().hex, created_at=datetime.now(UTC), custom_ids=[i["custom_id"] for i in part]
            )
            self.state.intents.append(intent)
            self._save()  # the intent is on disk before the server hears of it
            batch = self.client.messages.batches.create(requests=part)
            intent.batch_id = batch.id
            self.state.batches[batch.id] = BatchRecord(custom_ids=intent.custom_ids, created_at=datetime.now(UTC))
            self._save()
            submitted += len(part)
            progress("submit", submitted, len(items))

    def _collect(self, batch_id: str, requests: dict[str, InstructionRequest], store: Store) -> None:
        for line in self.client.messages.batches.results(batch_id):
            request = requests.get(line.custom_id)
            if request is None or store.done(line.custom_id):
                continue
            result = line.result
            if result.type == "succeeded":
                message = result.message
                usage = Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens)
                accept(store, request, text_of(message), usage, self.name, self.model, source=batch_id)
            else:
                detail = ""
                if result.type == "errored":
                    detail = getattr(getattr(result.error, "error", None), "message", "") or ""
                store.reject(
                    Outcome(custom_id=line.custom_id, ok=False, reason=result.type, text=detail, source=batch_id)
                )
        self.state.batches[batch_id].status = "collected"
        self._save()

    def run(self, requests: Sequence[InstructionRequest], store: Store, progress: Progress) -> None:
        by_id = {r.custom_id: r for r in requests}
        outage = Outage(self.retry_budget, self.clock)
        wait = self.poll_interval
        while True:
            try:
                # First thing each round: after a create that failed, the server may have made the batch anyway.
                self._adopt_orphans()
                if self._submit_todo(requests, store, progress):
                    wait = self.poll_interval
                open_batches = [bid for bid, b in self.state.batches.items() if b.status != "collected"]
                if not open_batches:
                    return
                ended = self._poll(open_batches, by_id, store)
            except _TRANSIENT as e:
                outage.back_off(_describe(e), e)  # everything done so far is in the state and the store
                continue
            except anthropic.APIError as e:
                raise BackendError(f"the Anthropic API is {_describe(e)}") from e
            outage.over()
            progress("collect", sum(1 for r in requests if store.done(r.custom_id)), len(requests))
            if not ended:
                self.clock.sleep(wait)
                wait = min(self.max_poll_interval, wait * 1.5)

    def _submit_todo(self, requests: Sequence[InstructionRequest], store: Store, progress: Progress) -> bool:
        in_flight = self._in_flight()
        todo = [
            r
            for r in requests
            if not store.done(r.custom_id)
            and r.custom_id not in in_flight
            and store.attempts(r.custom_id) < self.max_attempts
        ]
        if todo:
            self._submit(todo, progress)
        return bool(todo)

    def _poll(self, open_batches: list[str], by_id: dict[str, InstructionRequest], store: Store) -> bool:
        """Collect every batch that has ended; True when one had."""
        ended = False
        for batch_id in open_batches:
            batch = self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "ended":
                self._collect(batch_id, by_id, store)
                ended = True
        return ended

    def cancel(self) -> list[str]:
        """Ask the server to cancel every batch not yet collected; their results are collected as usual."""
        cancelled = []
        with _api_errors():
            for batch_id, record in self.state.batches.items():
                if record.status != "collected":
                    self.client.messages.batches.cancel(batch_id)
                    cancelled.append(batch_id)
        return cancelled

    def status(self) -> list[dict[str, Any]]:
        rows = []
        with _api_errors():
            for batch_id, record in self.state.batches.items():
                row: dict[str, Any] = {"batch": batch_id, "requests": len(record.custom_ids), "local": record.status}
                if record.status != "collected":
                    batch = self.client.messages.batches.retrieve(batch_id)
                    row["server"] = batch.processing_status
                    row["counts"] = batch.request_counts.model_dump()
                rows.append(row)
        return rows


@contextmanager
def _api_errors() -> Iterator[None]:
    try:
        yield
    except (anthropic.APIError, httpx.TransportError) as e:
        raise BackendError(f"the Anthropic API is {_describe(e)}") from e


def _describe(error: Exception) -> str:
    """How the API is, in a few words and one line."""
    if isinstance(error, anthropic.APIStatusError):
        code = error.status_code
        kind = {529: "overloaded", 429: "rate-limited"}.get(code, "failing" if code >= 500 else "refusing")
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
        return f"{kind} (HTTP {code}: {_one_line(str(detail or error.message))})"
    return f"unreachable ({_one_line(str(error)) or type(error).__name__})"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
