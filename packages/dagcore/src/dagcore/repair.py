"""Generate, validate, repair: the one loop that `airflow-net generate`, the app and the evaluator run.

A judge is plugged in by shape (`Judge`): dageval's `Validator` fits, and so does anything with a `validate`
method, so neither the server nor the judge needs the other installed. The loop asks the served model through
its own prompt contract, judges the code of each answer, and while the judge rejects it, shows the model why and
asks for the whole file again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from dagcore.chat import ChatClient, ChatResponse
from dagcore.code import extract_code
from dagcore.fiximports import fix_imports as fix_airflow_imports
from dagcore.grammar import with_answer_grammar
from dagcore.version import AirflowVersion

FEEDBACK = "The code failed validation: {problem}\n\nReturn the full corrected file."


class Retry(BaseModel):
    """How the loop asks again after a rejected answer."""

    model_config = ConfigDict(frozen=True)

    feedback: bool = True
    """Show the model its rejected answer and the judge's words (a repair); False: ask the request afresh (a
    verifier choosing among samples)."""
    temperature: float | None = Field(default=None, ge=0)
    """The temperature of the answers after the first; None: the first answer's. A greedy model shown its error
    often rewrites the same mistake."""
    grammar: bool = False
    """Decode the answers after the first under the contract's Python answer grammar (`dagcore.with_answer_grammar`):
    a sampled retry then always parses, while the first answer stays free (the single-shot number unchanged)."""


# The retry of the product's loop (`airflow-net generate`, the app, the MCP tool) unless asked otherwise.
# Measured on the 2026-12-05 import-block laptop model's 40 benchmark requests (bench/repair_strategies.py, one run
# each, 2 retries): feedback fixed 0 of 20 failures greedy and 0 of 16 at 0.8; asking afresh at 0.8 fixed 5 of 17
# (import 57.5% -> 70.0%); on the next model's eval, 3 of 19. A 135M model does not act on the error it is shown; a
# fresh sample judged in a real Airflow sometimes loads. Since 2026-12-06 the retries decode under the answer grammar:
# on the first 96 written dev requests (bench/repair_strategies.py --on written --retry-grammar, the committed laptop
# model) they fixed 21 of 59 first failures against 16 of 61 free (import after 2: 60.4% vs 53.1%); a sample at 0.8
# breaks Python more often than the greedy answer, and under the grammar it cannot.
RETRY_BY_DEFAULT = Retry(feedback=False, temperature=0.8, grammar=True)

# Whether the product's loop decodes the first answer under the answer grammar too. Measured 2026-12-06 on the 200
# written dev requests (bench/decoding_dev.py --parts written --grammar, the committed laptop model, greedy, 640
# tokens): import 38.5% -> 45.0% (paired +6.5, 95% CI [+0.5, +12.0]), intent 10.0% -> 14.0%; syntax errors 43 -> 4,
# answers cut at the token limit 5 -> 23. The grammar since refuses the loops behind those cuts and holds
# `schedule=` to the request's (bench/README: 47.0% / 19.5%, cut 17). On the 2026-12-05 45-minute model it had moved
# 96 written requests by -3 points: a decision for the model that ships, remeasured with the next one.
GRAMMAR_BY_DEFAULT = True


class JudgementLike(Protocol):
    """What a judge says of one file: any object with these attributes (dageval's `Check`, `Judgement` below)."""

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
class Judge(Protocol):
    """Anything that judges a DAG file for a target Airflow version."""

    def validate(self, code: str, airflow_version: AirflowVersion | None) -> JudgementLike: ...


class Judgement(BaseModel):
    """A judge's verdict on one file, copied from whatever the judge returned."""

    ok: bool
    level: str | None = None
    """The last level reached (e.g. `syntax`, `import`), as the judge names its levels."""
    category: str | None = None
    """Why it failed, as a short machine-readable name (e.g. `hallucinated_module`)."""
    message: str = ""
    """What failed, in words the model can act on."""
    details: dict[str, Any] = {}
    """The judge's own extra facts (dageval: `levels`, each level run, and `imported`)."""

    @property
    def passed(self) -> list[str]:
        """The judge's levels the file passed in a row (dageval's `details.levels`; none when it lists none)."""
        passed: list[str] = []
        for row in self.details.get("levels", []):
            if not row.get("ok"):
                break
            passed.append(str(row["level"]))
        return passed

    @property
    def depth(self) -> int:
        """How many levels the file passed in a row: how close a rejected file came."""
        return len(self.passed)


class Ranked(Protocol):
    """A verdict as `best_index` ranks it: a `Judgement`, or what dageval keeps of one (`RepairStep`)."""

    @property
    def ok(self) -> bool: ...
    @property
    def depth(self) -> int: ...


def best_index(verdicts: Sequence[Ranked]) -> int:
    """Which of a loop's answers a user gets: the valid one, else the one that came closest (the deepest level),
    the later of equals. A repair that makes a file worse (cut at the token limit, a broken rewrite) never
    takes away the better file the user already had."""
    return max(range(len(verdicts)), key=lambda i: (verdicts[i].ok, verdicts[i].depth, i))


class Turn(BaseModel):
    """One answer of the model and the judge's verdict on it."""

    number: int
    """1 for the first answer; 2 for the answer after the first repair request; ..."""
    answer: ChatResponse
    code: str | None
    """The code of the answer (`extract_code`), after `fix_imports` where the loop was asked to; None when it holds
    none."""
    fixes: list[str] = []
    """What `fix_imports` changed in this answer (`task: airflow.sdk -> airflow.decorators`, a line's quotes mended)."""
    verdict: Judgement
    validate_s: float
    messages: list[dict[str, str]]
    """The conversation the model answered."""


class Repair(BaseModel):
    """Every turn, in order; the result is the best of them (`best_index`)."""

    turns: list[Turn]

    @property
    def ok(self) -> bool:
        return self.final.verdict.ok

    @property
    def final(self) -> Turn:
        return self.turns[best_index([t.verdict for t in self.turns])]


NO_CODE = Judgement(ok=False, level="extract", category="no_code", message="the answer holds no Python code")
# The judge's own rule (dageval's extract level): an answer cut at the token limit is not a file to judge.
TRUNCATED = Judgement(
    ok=False,
    level="extract",
    category="truncated",
    message="the answer stopped at the token limit before the file ended: write a shorter, complete file",
)


def repair_loop(
    client: ChatClient,
    judge: Judge,
    request: str,
    airflow_version: AirflowVersion | str | None = None,
    *,
    max_attempts: int = 3,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
    messages: list[dict[str, str]] | None = None,
    fix_imports: bool = False,
    retry: Retry | None = None,
    answer_code: Callable[[str], str | None] | None = None,
    grammar: bool = False,
) -> Repair:
    """Ask for a DAG, then, while the judge rejects it, feed the verdict back; at most `max_attempts` answers.

    The request is stated through the served model's own contract, unless `messages` gives the conversation.
    `fix_imports`: each answer's Airflow imports are moved to where the target version has them, unused ones
    dropped, and a keyword string's bare inner double quotes made single where they stop it parsing
    (`dagcore.fix_imports` with `mend_quotes`), before it is judged; the repair history holds the fixed file.
    `retry`: how each answer after the first is asked for (`Retry`; None: feedback at `temperature`, a repair).
    `answer_code`: how an answer becomes the file judged (default `extract_code`, the fenced block; a spec answer
    is rendered by `dagsynth.spec.spec_code`, with `messages` and `extra` asking for it).
    `grammar`: the first answer too is decoded under the contract's Python answer grammar (`GRAMMAR_BY_DEFAULT`), unless
    `extra` asks for an answer under its own grammar or schema."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    version = AirflowVersion.of(airflow_version)
    contract = client.contract()
    messages = list(messages) if messages else contract.messages(request, version)
    retry = retry or Retry()
    # The retries' request fields, set once: under the answer grammar where asked, unless the answer is already decoded
    # under its own grammar or schema (the DAG spec's JSON), which it keeps.
    own = bool({"grammar", "response_format"} & set(extra or {}))
    # Built once, with the user's words (`request`, or the conversation's): `schedule=` takes the schedule they ask for.
    asks = (grammar or retry.grammar) and not own
    grammared = with_answer_grammar(extra or {}, contract, request, messages, version) if asks else extra
    retry_extra = grammared if retry.grammar else extra
    extra = grammared if grammar else extra
    turns: list[Turn] = []
    for number in range(1, max_attempts + 1):
        sent = list(messages)
        # A retry's own seed: a sampled retry that drew the first answer's tokens again would waste the attempt.
        heat, draw = (temperature, seed) if number == 1 else _retry(temperature, retry, seed, number)
        fields = retry_extra if number > 1 else extra
        answer = client.chat(sent, max_tokens=max_tokens, temperature=heat, seed=draw, stop=contract.stop, extra=fields)
        code = (answer_code or extract_code)(answer.text)
        fixes: list[str] = []
        if fix_imports and code is not None and answer.finish_reason != "length":
            fixed = fix_airflow_imports(code, version, drop_unused=True, mend_quotes=True)
            code, fixes = fixed.code, fixed.changes
        start = time.perf_counter()
        if code is None:
            verdict = NO_CODE
        elif answer.finish_reason == "length":
            verdict = TRUNCATED
        else:
            verdict = Judgement.model_validate(judge.validate(code, version), from_attributes=True)
        turns.append(
            Turn(
                number=number,
                answer=answer,
                code=code,
                fixes=fixes,
                verdict=verdict,
                validate_s=time.perf_counter() - start,
                messages=sent,
            )
        )
        if verdict.ok:
            break
        if retry.feedback:
            # As the contract writes an answer: a reply cut at the stop string is closed again.
            shown = contract.answer(code) if code is not None and answer_code is None else answer.text
            messages += feedback(shown, verdict)
    return Repair(turns=turns)


def _retry(temperature: float, retry: Retry, seed: int | None, number: int) -> tuple[float, int | None]:
    """The temperature and seed of answer `number` (> 1): the retry's temperature where it sets one, and a seed of
    the answer's own where it samples."""
    heat = temperature if retry.temperature is None else retry.temperature
    if heat == 0 or seed is None:
        return heat, seed
    return heat, seed * 1000 + number


def feedback(answer: str, verdict: Judgement) -> list[dict[str, str]]:
    """The turns after a rejected answer: the answer, then the judge's words and the ask for the whole file. The
    loop sends them; dagdata's repair lessons train on them (one definition, so a lesson reads like a repair)."""
    return [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": FEEDBACK.format(problem=problem(verdict))},
    ]


def problem(verdict: Judgement) -> str:
    """A verdict as the model is told it: `[import/hallucinated_module] No module named ...`."""
    where = "/".join(part for part in (verdict.level, verdict.category) if part)
    return f"[{where}] {verdict.message}" if where else verdict.message or "it was rejected"
