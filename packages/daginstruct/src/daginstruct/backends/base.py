"""What every backend does with an answer, and the loop shared by request-at-a-time backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Protocol

from daginstruct.models import Instruction, InstructionRequest, Outcome, Usage
from daginstruct.store import Store
from daginstruct.validate import check

Progress = Callable[[str, int, int], None]


class Backend(Protocol):
    name: str
    model: str

    def run(self, requests: Sequence[InstructionRequest], store: Store, progress: Progress) -> None:
        """Get an instruction for every request not yet in `store`, adding each as it arrives."""
        ...


def accept(
    store: Store, request: InstructionRequest, raw: str, usage: Usage, backend: str, model: str, source: str = ""
) -> bool:
    """Validate an answer; store it as an instruction, or record the reject. True when stored."""
    verdict = check(raw, request.airflow_version)
    if not verdict.ok:
        store.reject(
            Outcome(custom_id=request.custom_id, ok=False, reason=verdict.reason, text=raw, usage=usage, source=source)
        )
        return False
    store.add(
        Instruction(
            custom_id=request.custom_id,
            dag_id=request.dag_id,
            style=request.style,
            text=verdict.text,
            airflow_version=request.airflow_version,
            backend=backend,
            model=model,
            usage=usage,
            attempts=store.attempts(request.custom_id) + 1,
            cleaned=verdict.cleaned,
        )
    )
    return True


class RequestAtATime:
    """Backends that answer one request per call: run them with bounded concurrency, retry rejects."""

    name = "?"
    model = "?"
    concurrency = 4
    max_attempts = 3

    def complete(self, request: InstructionRequest, attempt: int) -> tuple[str, Usage]:
        raise NotImplementedError

    def _one(self, request: InstructionRequest, store: Store) -> None:
        while not store.done(request.custom_id) and store.attempts(request.custom_id) < self.max_attempts:
            text, usage = self.complete(request, store.attempts(request.custom_id))
            accept(store, request, text, usage, self.name, self.model)

    def run(self, requests: Sequence[InstructionRequest], store: Store, progress: Progress) -> None:
        todo = [r for r in requests if not store.done(r.custom_id) and store.attempts(r.custom_id) < self.max_attempts]
        total = len(requests)
        done = total - len(todo)
        progress("generate", done, total)
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            futures = [pool.submit(self._one, request, store) for request in todo]
            for future in as_completed(futures):
                future.result()
                done += 1
                progress("generate", done, total)
