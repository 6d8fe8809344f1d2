"""Generate, validate, repair, for dagserve's typed client: dagcore's one loop, with dagserve's result types.

A validator is plugged in by shape (dagcore's `Judge`): dageval's `Validator` fits without either package
importing the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from dagcore import AirflowVersion, Retry
from dagcore.repair import FEEDBACK, Judge, Judgement, JudgementLike, best_index, repair_loop
from dagserve.client import Client, Generation

__all__ = [
    "FEEDBACK",
    "Attempt",
    "RepairResult",
    "Retry",
    "ValidationOutcome",
    "ValidationResult",
    "Validator",
    "generate_valid_dag",
]

ValidationResult = Judgement
"""A validator's verdict on one file (dagcore's `Judgement`)."""
ValidationOutcome = JudgementLike
"""What a validator returns: any object with `ok`, `level`, `category`, `message`, `details`."""
Validator = Judge
"""Anything with `validate(code, airflow_version)` (apps/server and `airflow-net generate` plug dageval in)."""


class Attempt(BaseModel):
    """One generation and its verdict."""

    number: int
    """1 for the first try."""
    generation: Generation
    """The answer; its `code` is the file that was judged (imports fixed where asked)."""
    fixes: list[str] = []
    """What `fix_imports` changed in this answer: imports moved, a line's quotes mended."""
    verdict: ValidationResult
    validate_s: float
    """Seconds the validator took."""


class RepairResult(BaseModel):
    """Every attempt, in order; the answer is the best of them (the valid one, else the one that came closest)."""

    attempts: list[Attempt]

    @property
    def ok(self) -> bool:
        return self.final.verdict.ok

    @property
    def final(self) -> Attempt:
        return self.attempts[best_index([a.verdict for a in self.attempts])]


def generate_valid_dag(
    client: Client,
    validator: Validator,
    request: str,
    airflow_version: AirflowVersion | str | None = None,
    *,
    max_attempts: int = 3,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    seed: int | None = None,
    fix_imports: bool = False,
    retry: Retry | None = None,
    messages: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    answer_code: Callable[[str], str | None] | None = None,
    grammar: bool = False,
) -> RepairResult:
    """Generate a DAG, and while the validator rejects it, show the model why and ask for the whole file again.

    `fix_imports`: move each answer's Airflow imports to where the target version has them, and mend nested quotes
    that stop it parsing, before judging it (`dagcore.fix_imports` with `mend_quotes`).
    `retry`: how each answer after the first is asked for (dagcore.Retry; None: the error fed back, a repair).
    `messages`, `extra`, `answer_code`: another way of asking and of reading the answer (the DAG spec:
    `airflow-net generate --spec`), as `dagcore.repair_loop` takes them.
    `grammar`: decode the first answer too under the model's Python answer grammar (`dagcore.GRAMMAR_BY_DEFAULT`)."""
    repair = client.call(
        repair_loop,
        client.chat_client,
        validator,
        request,
        airflow_version,
        max_attempts=max_attempts,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        fix_imports=fix_imports,
        retry=retry,
        messages=messages,
        extra=extra,
        answer_code=answer_code,
        grammar=grammar,
    )
    return RepairResult(
        attempts=[
            Attempt(
                number=turn.number,
                generation=Generation.of(turn.answer, turn.messages).model_copy(update={"code": turn.code}),
                fixes=turn.fixes,
                verdict=turn.verdict,
                validate_s=turn.validate_s,
            )
            for turn in repair.turns
        ]
    )
