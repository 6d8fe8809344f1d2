"""The version guard: an answer's imports from `airflow` must exist in its target series, refused as they are
written (unit), and on a real llama.cpp server with a tiny model."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from dagcore.modules import SeriesTable
from dagserve._names import NameGuard
from dagserve._version_guard import Guards, VersionGuard

GOOD = '''```python
"""Moves the files.
from airflow.sdk import EmptyOperator  (a docstring: never checked)
"""
from datetime import datetime
from airflow.sdk import DAG, task  # the SDK
from airflow.providers.google.cloud.operators.gcs import (
    GCSCreateBucketOperator,  # makes it, then
    GCSDeleteObjectsOperator,
)
import airflow.providers.standard
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="files", schedule=None, start_date=datetime(2025, 1, 1)):
    EmptyOperator(task_id="a")
```
'''


def _guard(series: str = "3.1") -> VersionGuard:
    table = SeriesTable.for_version(series)
    assert table is not None
    return VersionGuard(table)


def refused_at(text: str, step: int, series: str = "3.1") -> list[str]:
    """Where the guard refuses `text` fed `step` characters at a time: the text up to each refused piece."""
    guard, where = _guard(series), []
    for i in range(0, len(text), step):
        piece = text[i : i + step]
        if not guard.allows(piece):
            where.append(text[: i + step].rsplit("\n", 1)[-1])
            guard.give_up()
        guard.accept(piece)
    return where


@pytest.mark.parametrize("step", [1, 2, 3, 5, 8, 13])
def test_a_real_file_passes_however_it_is_cut_into_tokens(step: int) -> None:
    assert refused_at(GOOD, step) == []


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        ("from airflow.sdk import EmptyOperator\n", "from airflow.sdk import Em"),
        ("from airflow.providers.amazon.redshift import RedshiftHook\n", "from airflow.providers.amazon.r"),
        ("from airflow.providers.mlflow.hooks import Hook\n", "from airflow.providers.ml"),
        (
            "from airflow.providers.google.cloud.operators.gcs import (\n    GCSCreateJobOperator,\n)\n",
            "    GCSCreateJ",
        ),
    ],
)
def test_an_import_the_series_lacks_is_refused_where_it_goes_wrong(line: str, refused: str) -> None:
    assert refused_at("```python\n" + line, 1) == [refused]


def test_a_trigger_rule_the_series_lacks_is_refused_and_a_docstring_is_not_code() -> None:
    code = 'with DAG(dag_id="d", schedule=None):\n    EmptyOperator(task_id="e", trigger_rule="on_failure")\n'
    assert refused_at("```python\n" + code, 1) == ['    EmptyOperator(task_id="e", trigger_rule="on_']
    assert refused_at('```python\n"""\ntrigger_rule="on_failure"\n"""\n', 1) == []
    assert refused_at('```python\nx = 1  # trigger_rule="on_failure"\n', 1) == []


KEYWORDS = """DAG_ID = "orders"
with DAG(
    DAG_ID,
    schedule=None,  # deferrable=True in a comment
    doc_md=\"\"\"Runs (
    deferrable=True) in a docstring\"\"\",
    default_args={"retries": 2, "deferrable": True},
):
    wait = FileSensor(task_id="wait", filepath="/data", deferrable=True, poke_interval=60)
    run = PythonOperator(
        task_id="run", python_callable=lambda a, b=1: a, op_kwargs={"x": dict(y=1)},
    )
"""


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_keyword_arguments_the_classes_take_pass_in_every_form(step: int) -> None:
    assert refused_at("```python\n" + KEYWORDS, step) == []


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        ('with DAG(dag_id="d", deferrable=True):\n', 'with DAG(dag_id="d", defe'),  # not default_args
        ('@dag(\n    schedule=None,\n    region="eu",\n)\n', "    reg"),
        (
            't = BashOperator(task_id="t", bash_command="ls", poke_interval=5)\n',
            't = BashOperator(task_id="t", bash_command="ls", pok',
        ),
        ('a = Asset("s3://b/k", skip_existing=True)\n', 'a = Asset("s3://b/k", s'),
        ("t = EmptyOperator(unknown_name)\n", "t = EmptyOperator(u"),
    ],
)
def test_a_keyword_argument_the_class_lacks_is_refused_where_it_goes_wrong(code: str, refused: str) -> None:
    assert refused_at("```python\n" + code, 1) == [refused]


def test_keyword_arguments_can_be_left_unchecked_and_each_series_has_its_own() -> None:
    table = SeriesTable.for_version("3.1")
    assert table is not None
    loose = VersionGuard(table, keywords=False)
    loose.accept("```python\nwith DAG(dag_id='d', ")
    assert loose.allows("deferrable=True")
    assert refused_at("```python\nwith DAG(dag_id='d', schedule_interval='@daily'):\n", 1, "2.10") == []
    assert refused_at("```python\nwith DAG(dag_id='d', schedule_interval='@daily'):\n", 1) == [
        "with DAG(dag_id='d', schedule_"  # 3.1 has `schedule` and no `schedule_interval`
    ]


def test_the_series_decides_and_a_refusal_given_up_lasts_one_statement() -> None:
    assert refused_at("from airflow.operators.bash import BashOperator\n", 1, "2.10") == []
    assert refused_at("from airflow.sdk import dag\n", 1, "2.10") == ["from airflow.sd"]
    guard = _guard("2.10")
    guard.accept("from airflow.sd")
    guard.give_up()  # no candidate was allowed: the decoder lets the statement through
    assert guard.allows("k import dag")
    guard.accept("k import dag\n")
    assert not guard.allows("from airflow.sdk")  # the next statement is checked again


def test_guards_together_allow_what_each_allows() -> None:
    both = Guards([NameGuard(), _guard()])
    both.accept("```python\nfrom airflow.sdk import DAG\n")
    assert both.allows("x = DAG")
    assert not both.allows("x = TaskGroup")  # the name guard: never imported
    assert not both.allows("from airflow.sdk import Em")  # the version guard


def test_the_server_decodes_imports_the_series_has(server: str, ask: Callable[..., str]) -> None:
    """The tiny model (random weights) writes any name where the grammar lets it; under `version_guard` the name is
    one `airflow.sdk` of Airflow 3.1 really has, greedy and sampled."""
    grammar = 'root ::= "```python\\nfrom airflow.sdk import " [A-Za-z]+ "\\n```"'
    real = SeriesTable.for_version("3.1")
    assert real is not None
    known = real.names("airflow.sdk") or frozenset()
    free = ask(server, grammar, max_tokens=48, temperature=0.0).split("import ")[1].split("\n")[0]
    assert free not in known  # unguarded, it invents one
    answers = [ask(server, grammar, max_tokens=48, temperature=0.0, version_guard="3.1")]
    answers += [
        ask(server, grammar, max_tokens=48, temperature=1.2, seed=seed, version_guard="3.1") for seed in range(3)
    ]
    for answer in answers:
        assert answer.split("import ")[1].split("\n")[0] in known, answer
    bad = httpx.post(
        f"{server}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "a DAG"}], "max_tokens": 4, "version_guard": "three"},
        timeout=60,
    )
    assert bad.status_code == 400 and "version_guard" in bad.text


def test_the_server_decodes_keyword_arguments_the_class_takes(server: str, ask: Callable[..., str]) -> None:
    """Where the grammar lets the tiny model name any keyword, under `version_guard` it names one Airflow 3.1's
    BashOperator takes; `version_guard_keywords: false` leaves it free."""
    grammar = 'root ::= "```python\\nt = BashOperator(" [a-z_]+ "=1)\\n```"'
    real = SeriesTable.for_version("3.1")
    assert real is not None

    def keyword(answer: str) -> str:
        return answer.split("BashOperator(")[1].split("=")[0]

    loose = [
        ask(server, grammar, max_tokens=48, temperature=1.2, seed=s, version_guard="3.1", version_guard_keywords=False)
        for s in range(3)
    ]
    assert any(real.keyword_refusal(f"BashOperator({keyword(a)}=1)") for a in loose), loose  # it invents one
    for seed in range(3):
        answer = ask(server, grammar, max_tokens=48, temperature=1.2, seed=seed, version_guard="3.1")
        assert real.keyword_refusal(f"BashOperator({keyword(answer)}=1)") is None, answer


class _Only:
    """A guard that allows one token's text, or none."""

    def __init__(self, text: str | None) -> None:
        self.text, self.gave_up = text, False

    def allows(self, text: str) -> bool:
        return text == self.text

    def accept(self, text: str) -> None:
        pass

    def give_up(self) -> None:
        self.gave_up = True


def test_a_refused_pick_looks_past_the_64_likeliest_before_giving_up() -> None:
    """The model took `def` for `deferrable` in `DAG(...)`; `ault` (for `default_args`) was below its 64 likeliest,
    and the guard gave up (3 written dev answers, 2026-12-07)."""
    import numpy as np

    from dagserve._grammar import _TOKEN, GuidedSampler

    def sampler() -> GuidedSampler:
        made = GuidedSampler.__new__(GuidedSampler)  # the masking alone: no model, no grammar
        made.n_vocab, made._piece = 3000, lambda t: f"t{t}".encode()
        made._view = np.zeros(3000, dtype=_TOKEN)
        made._view["logit"] = -np.arange(3000, dtype=np.float32)  # token 0 likeliest
        return made

    wide = sampler()
    found = _Only("t500")
    wide._guard_mask(found)
    assert not found.gave_up and np.isfinite(wide._view["logit"]).sum() == 1 and wide._view["logit"][500] == -500
    far = sampler()
    none = _Only("t2500")  # beyond the wider search too: let through
    far._guard_mask(none)
    assert none.gave_up and np.isfinite(far._view["logit"]).all()
