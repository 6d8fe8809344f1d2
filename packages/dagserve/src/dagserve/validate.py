"""Generate, validate, repair: a validator is plugged in through a protocol, so dagserve need not know dageval."""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from dagserve.client import Client, Generation

FEEDBACK = "The code failed validation: {problem}\n\nReturn the full corrected file."


class ValidationResult(BaseModel):
    """A validator's verdict on one file."""

    ok: bool
    level: str | None = None
    """The last level reached (e.g. `syntax`, `import`), as the validator names its levels."""
    category: str | None = None
    """Why it failed, as a short machine-readable name (e.g. `hallucinated_module`)."""
    message: str = ""
    """What failed, in words the model can act on."""
    details: dict[str, Any] = {}


class ValidationOutcome(Protocol):
    """What a validator returns: any object with these attributes (a `ValidationResult`, dageval's `Check`).

    Matched by shape, so a validator's package need not import dagserve; `generate_valid_dag` copies it into a
    `ValidationResult`.
    """

    @property
    def ok(self) -> bool: ...
    @property
    def level(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...


@runtime_checkable
class Validator(Protocol):
    """Anything that judges a DAG file for a target Airflow version (apps/server plugs dageval in here)."""

    def validate(self, code: str, airflow_version: str | None) -> ValidationOutcome: ...


class Attempt(BaseModel):
    """One generation and its verdict."""

    number: int
    """1 for the first try."""
    generation: Generation
    verdict: ValidationResult
    validate_s: float
    """Seconds the validator took."""


class RepairResult(BaseModel):
    """Every attempt, in order; the last one is the answer."""

    attempts: list[Attempt]

    @property
    def ok(self) -> bool:
        return self.attempts[-1].verdict.ok

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]


def generate_valid_dag(
    client: Client,
    validator: Validator,
    request: str,
    airflow_version: str | None = None,
    *,
    max_attempts: int = 3,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    seed: int | None = None,
) -> RepairResult:
    """Generate a DAG, and while the validator rejects it, show the model why and ask for the whole file again."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    messages = client.contract().messages(request, airflow_version)
    attempts: list[Attempt] = []
    for number in range(1, max_attempts + 1):
        generation = client.chat(list(messages), max_tokens=max_tokens, temperature=temperature, seed=seed)
        start = time.perf_counter()
        if generation.code is None:
            verdict = ValidationResult(
                ok=False, level="extract", category="no_code", message="the answer holds no Python code"
            )
        else:
            outcome = validator.validate(generation.code, airflow_version)
            verdict = ValidationResult.model_validate(outcome, from_attributes=True)
        attempts.append(
            Attempt(number=number, generation=generation, verdict=verdict, validate_s=time.perf_counter() - start)
        )
        if verdict.ok:
            break
        messages += [
            {"role": "assistant", "content": generation.completion},
            {"role": "user", "content": FEEDBACK.format(problem=_problem(verdict))},
        ]
    return RepairResult(attempts=attempts)


def _problem(verdict: ValidationResult) -> str:
    where = "/".join(part for part in (verdict.level, verdict.category) if part)
    return f"[{where}] {verdict.message}" if where else verdict.message or "it was rejected"
