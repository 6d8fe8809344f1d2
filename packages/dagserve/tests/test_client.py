"""`Client.generate_dag` and the generate-validate-repair loop, against a real server."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dagcore import PromptContract, Retry, extract_code, python_answer_grammar
from dagcore.testing import ScriptedModel
from dagserve import (
    Client,
    ClientError,
    ValidationResult,
    Validator,
    generate_valid_dag,
)


def test_generate_dag_uses_the_models_contract(server: str) -> None:
    with Client(server) as client:
        contract = client.contract()
        assert contract.system == "You write Airflow DAGs for tests."
        generation = client.generate_dag("Copy a file every hour.", "2.10.5", max_tokens=20)
    assert generation.messages == [
        {"role": "system", "content": "You write Airflow DAGs for tests."},
        {"role": "user", "content": "Request: Copy a file every hour.\nAirflow: 2.10"},
    ]
    assert generation.model == "tiny" and generation.finish_reason == "length"
    assert generation.usage.completion_tokens == 20
    # The tiny model's greedy answer is one bare identifier: no line of it is code (dagcore's rule, the judge's).
    assert generation.code == extract_code(generation.completion) and generation.code is None
    assert generation.timings.total_s > 0 and generation.timings.ttft_ms is not None


def test_client_errors_are_typed(server: str) -> None:
    with Client(f"{server}/v1") as client, pytest.raises(ClientError) as error:
        client.chat([{"role": "user", "content": "hi"}], max_tokens=10**9)
    assert error.value.status == 400 and error.value.code == "max_tokens_too_large"
    with Client("http://127.0.0.1:9") as nowhere, pytest.raises(ClientError, match="cannot reach"):
        nowhere.health()


@dataclass
class RejectFirst:
    """A validator that fails the first `reject` files it sees, then passes."""

    reject: int = 1
    seen: list[str] = field(default_factory=list)

    def validate(self, code: str, airflow_version: str | None) -> ValidationResult:
        self.seen.append(code)
        if len(self.seen) <= self.reject:
            return ValidationResult(
                ok=False, level="import", category="hallucinated_module", message="No module named 'airflow.magic'"
            )
        return ValidationResult(ok=True, level="import")


def test_generate_valid_dag_feeds_errors_back() -> None:
    validator = RejectFirst(reject=1)
    assert isinstance(validator, Validator)
    # The loop is what is tested here; the tiny random model writes no code (one long identifier).
    contract = {
        "system": "You write Airflow DAGs for tests.",
        "user_template": "Request: {request}\nAirflow: {airflow_version}",
    }
    scripted = ScriptedModel(["Here:\n```python\nfrom airflow.sdk import dag\n```"], contract=contract)
    with Client(scripted.url) as client:
        result = generate_valid_dag(client, validator, "Copy a file.", "3.0", max_tokens=12)
    scripted.close()
    assert result.ok and [a.number for a in result.attempts] == [1, 2]
    first, second = result.attempts
    assert not first.verdict.ok and first.verdict.category == "hallucinated_module"
    follow_up = second.generation.messages
    contract = PromptContract(
        system="You write Airflow DAGs for tests.", user_template="Request: {request}\nAirflow: {airflow_version}"
    )
    assert follow_up[:2] == contract.messages("Copy a file.", "3.0")
    # The answer goes back as the contract writes one (the fenced code), not with the model's preamble.
    assert first.generation.code is not None
    assert follow_up[2] == {"role": "assistant", "content": contract.answer(first.generation.code)}
    assert follow_up[3]["role"] == "user"
    assert follow_up[3]["content"].startswith("The code failed validation: [import/hallucinated_module] No module")
    assert follow_up[3]["content"].endswith("Return the full corrected file.")
    assert validator.seen == [first.generation.code, second.generation.code]


def test_generate_valid_dag_gives_up_after_max_attempts(server: str) -> None:
    with Client(server) as client:
        result = generate_valid_dag(client, RejectFirst(reject=99), "Copy a file.", max_attempts=3, max_tokens=8)
    assert not result.ok and len(result.attempts) == 3
    assert len(result.final.generation.messages) == 2 + 2 * 2


def test_fix_imports_moves_imports_before_the_validator_sees_the_file() -> None:
    answer = "```python\nfrom airflow.sdk import dag, task\n\n\n@dag(schedule=None)\ndef d():\n    task(print)()\n```"
    for fix, expected in (
        (False, "from airflow.sdk import dag, task"),
        (True, "from airflow.decorators import dag, task"),
    ):
        scripted = ScriptedModel([answer])
        validator = RejectFirst(reject=0)
        with Client(scripted.url) as client:
            result = generate_valid_dag(client, validator, "Say hi.", "2.10", fix_imports=fix)
        scripted.close()
        assert validator.seen[0].splitlines()[0] == expected
        assert result.final.generation.code == validator.seen[0]
        assert bool(result.final.fixes) is fix and result.final.generation.completion == answer


def test_the_loop_mends_nested_quotes_so_the_file_parses_and_its_imports_move() -> None:
    answer = '```python\nfrom airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef d():\n    f(cmd="echo "hi"")\n```'
    scripted = ScriptedModel([answer])
    validator = RejectFirst(reject=0)
    with Client(scripted.url) as client:
        result = generate_valid_dag(client, validator, "Say hi.", "2.10", fix_imports=True)
    scripted.close()
    assert validator.seen[0].splitlines()[0] == "from airflow.decorators import dag"
    assert validator.seen[0].splitlines()[-1].strip() == "f(cmd=\"echo 'hi'\")"
    assert result.final.fixes[0] == "line 6: cmd's inner double quotes made single"


def test_retries_can_sample_afresh_without_the_rejected_answer() -> None:
    answers = iter(["```python\nx = 1\n```", "```python\nx = 2\n```", "```python\nx = 3\n```"])
    scripted = ScriptedModel(lambda body: next(answers))
    validator = RejectFirst(reject=2)
    afresh = Retry(feedback=False, temperature=0.8)
    with Client(scripted.url) as client:
        kept = generate_valid_dag(client, validator, "Say hi.", "2.10", seed=7, retry=afresh)
    scripted.close()
    assert kept.ok and [a.number for a in kept.attempts] == [1, 2, 3] and validator.seen[-1].strip() == "x = 3"
    first, *retries = scripted.requests
    # The first answer as asked (greedy); each retry the same conversation, sampled, under a seed of its own.
    assert first["temperature"] == 0.0 and [r["temperature"] for r in retries] == [0.8, 0.8]
    assert all(r["messages"] == first["messages"] for r in retries)
    assert len({first["seed"], *(r["seed"] for r in retries)}) == 3
    # With feedback (the default) a greedy retry keeps its seed and sees the rejected answer and the judge's words.
    scripted = ScriptedModel(["```python\nx = 1\n```"])
    with Client(scripted.url) as client:
        generate_valid_dag(client, RejectFirst(reject=1), "Say hi.", "2.10", seed=7)
    scripted.close()
    first, retry = scripted.requests
    assert retry["temperature"] == 0.0 and retry["seed"] == first["seed"] == 7
    assert len(retry["messages"]) == len(first["messages"]) + 2


def test_retries_can_decode_under_the_answer_grammar_while_the_first_stays_free() -> None:
    scripted = ScriptedModel(["```python\nx = 1\n```"])
    validator = RejectFirst(reject=2)
    with Client(scripted.url) as client:
        kept = generate_valid_dag(
            client, validator, "Say hi.", "2.10", seed=7, retry=Retry(feedback=False, temperature=0.8, grammar=True)
        )
        contract = client.contract()
    scripted.close()
    assert kept.ok and len(scripted.requests) == 3
    first, *retries = scripted.requests
    assert "grammar" not in first  # the single-shot answer is the free one
    assert [r["grammar"] for r in retries] == [python_answer_grammar(contract)] * 2
    # An answer asked for under its own schema (the DAG spec's JSON) keeps it: no Python grammar on top.
    scripted = ScriptedModel(["```python\nx = 1\n```"])
    spec = {"response_format": {"type": "json_object"}}
    with Client(scripted.url) as client:
        generate_valid_dag(
            client, RejectFirst(reject=1), "Say hi.", "2.10", retry=Retry(feedback=False, grammar=True), extra=spec
        )
    scripted.close()
    assert all("grammar" not in r and r["response_format"] == spec["response_format"] for r in scripted.requests)


def test_the_first_answer_too_can_decode_under_the_answer_grammar() -> None:
    scripted = ScriptedModel(["```python\nx = 1\n```"])
    with Client(scripted.url) as client:
        generate_valid_dag(client, RejectFirst(reject=1), "Say hi.", "2.10", retry=Retry(feedback=False), grammar=True)
        contract = client.contract()
    scripted.close()
    first, retry = scripted.requests
    assert first["grammar"] == python_answer_grammar(contract) and "grammar" not in retry  # the retry as `retry` says
