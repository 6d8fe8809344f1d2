"""The repair loop as a metric: a model that fixes its DAG on the second answer counts at 1 repair, not at 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dageval
from dagcore import python_answer_grammar
from dagcore.testing import ScriptedModel
from dageval import GenerateConfig, Level, Prompt

GOOD = """```python
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="fixed", schedule=None):
    EmptyOperator(task_id="a")
```"""
BROKEN = "```python\nfrom airflow.sdk import DAG\nwith DAG(dag_id='x' schedule=None):\n    pass\n```"


def fixes_on_second_try(body: dict[str, Any]) -> str:
    """BROKEN to a fresh request, GOOD once the conversation holds the judge's feedback."""
    fixed = any("failed validation" in m["content"] for m in body["messages"])
    return GOOD if fixed else BROKEN + "\nThat is the file.\n"  # talk after the fence: cut at the stop string


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    server = ScriptedModel(fixes_on_second_try)
    yield server
    server.close()


def test_valid_after_one_repair_not_before(model: ScriptedModel, tmp_path: Path) -> None:
    prompts = [Prompt(id=f"p{i}", request=f"Make DAG {i}.", airflow_version="3.1") for i in range(3)]
    config = GenerateConfig(endpoint=model.url, repairs=2)
    with dageval.Validator(Level.LINT) as judge:
        samples = dageval.generate(prompts, config, tmp_path / "completions.jsonl", judge=judge)
    assert len(model.requests) == 6  # two answers each: the loop stops at the first valid one
    assert all(len(s.repairs) == 2 and s.completion == BROKEN.removesuffix("\n```") for s in samples)  # single-shot
    repaired = [b["messages"] for b in model.requests if len(b["messages"]) == 4]  # system, user, answer, feedback
    assert all(b["stop"] == ["\n```\n"] for b in model.requests)  # each answer ends at the contract's closing fence
    # The scripted server cut each answer at its closing fence; the history holds it as the contract writes it.
    assert len(repaired) == 3 and all(m[2]["content"] == BROKEN for m in repaired)
    assert all(m[3]["content"].startswith("The code failed validation: [syntax/syntax_error]") for m in repaired)
    table = {row.repairs: row.rates for row in dageval.repair_table(samples, 2, Level.LINT)}
    assert table[0] == {"extract": 1.0, "syntax": 0.0, "structure": 0.0, "lint": 0.0}
    assert table[1] == table[2] == {"extract": 1.0, "syntax": 1.0, "structure": 1.0, "lint": 1.0}
    again = dageval.generate(prompts, config, tmp_path / "completions.jsonl", judge=judge)  # resumed: no asks
    assert len(model.requests) == 6 and [s.repairs for s in again] == [s.repairs for s in samples]


def test_repairs_need_a_judge(tmp_path: Path) -> None:
    with pytest.raises(dageval.InputError, match="need a judge"):
        dageval.generate([], GenerateConfig(endpoint="http://127.0.0.1:9/v1", repairs=1), tmp_path / "c.jsonl")


CYCLE = """```python
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="cycle", schedule=None):
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a
```"""


def worse_after_feedback(body: dict[str, Any]) -> str:
    """A file that parses (with a cycle) to a fresh request; a file that does not, once shown the cycle."""
    return BROKEN if any("failed validation" in m["content"] for m in body["messages"]) else CYCLE


def test_a_repair_that_makes_the_file_worse_never_takes_the_better_one_away(tmp_path: Path) -> None:
    server = ScriptedModel(worse_after_feedback)
    try:
        prompts = [Prompt(id="p", request="Make a DAG.", airflow_version="3.1")]
        config = GenerateConfig(endpoint=server.url, repairs=2)
        with dageval.Validator(Level.STRUCTURE) as judge:
            [sample] = dageval.generate(prompts, config, tmp_path / "completions.jsonl", judge=judge)
    finally:
        server.close()
    assert [step.passed for step in sample.repairs] == [["extract", "syntax"], ["extract"], ["extract"]]
    table = {row.repairs: row.rates for row in dageval.repair_table([sample], 2, Level.STRUCTURE)}
    # The loop hands over its best answer: the first, which parses, not the last, which does not.
    assert table[0] == table[1] == table[2] == {"extract": 1.0, "syntax": 1.0, "structure": 0.0}


def test_grammar_goes_with_every_answer_and_only_a_grammar_run_is_stamped_with_it(
    model: ScriptedModel, tmp_path: Path
) -> None:
    prompts = [Prompt(id="p0", request="Make DAG 0.", airflow_version="3.1")]
    config = GenerateConfig(endpoint=model.url, repairs=1, grammar=True, extra={"repeat_penalty": 1.0})
    with dageval.Validator(Level.LINT) as judge:
        dageval.generate(prompts, config, tmp_path / "completions.jsonl", judge=judge)
    assert len(model.requests) == 2  # the first answer and its repair, both decoded under the grammar
    assert all(b["grammar"] == python_answer_grammar() and b["repeat_penalty"] == 1.0 for b in model.requests)
    # A judgement made before the field existed (no grammar) keeps its stamp; a grammar run has its own.
    assert "grammar" not in dageval.JudgeConfig().stamped()
    assert dageval.JudgeConfig(grammar=True).stamped()["grammar"] is True


def test_the_grammar_holds_the_schedule_each_request_asks_for(model: ScriptedModel, tmp_path: Path) -> None:
    """A request's words and version reach its grammar (`dagcore.asked_schedule`, `dagcore.asked_imports`), the first
    answer's and the retry's alike; a dataset row's conversation is read where it has no `request`."""
    prompts = [
        Prompt(id="five", request="Make a DAG that runs every day at 5am.", airflow_version="3.1"),
        Prompt(id="row", messages=[{"role": "user", "content": "A manual-only DAG, please."}], airflow_version="3.1"),
        Prompt(id="snow", request="Load the orders into Snowflake.", airflow_version="2.10"),
    ]
    config = GenerateConfig(endpoint=model.url, repairs=1, grammar=True)
    with dageval.Validator(Level.LINT) as judge:
        dageval.generate(prompts, config, tmp_path / "completions.jsonl", judge=judge)
    sent = {b["grammar"] for b in model.requests}
    assert sent == {
        python_answer_grammar(request="Make a DAG that runs every day at 5am."),
        python_answer_grammar(request="A manual-only DAG, please."),
        python_answer_grammar(request="Load the orders into Snowflake.", airflow_version="2.10"),
    }
    # and the request's version: a provider it names is imported where Airflow 2's import block has it
    snowflake = python_answer_grammar(request="Load the orders into Snowflake.", airflow_version="2.10")
    assert "from airflow import DAG\\n" in snowflake and "import SnowflakeHook\\n" in snowflake
    assert 'schedule-text ::= "0 5 * * *"' in python_answer_grammar(request="every day at 5am")
    assert 'schedule-value ::= "None"' in python_answer_grammar(request="A manual-only DAG, please.")
