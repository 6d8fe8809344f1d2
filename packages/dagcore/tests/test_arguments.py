"""dagcore.arguments reads which names open a call's arguments, line by line, and the table checks them against
what a real Airflow's classes take."""

from __future__ import annotations

import pytest

from dagcore.arguments import START, Argument, scan
from dagcore.modules import SeriesTable


def _read(found: list[Argument]) -> list[tuple[str, str, str]]:
    return [(a.callee, a.name, a.follows) for a in found]


def test_the_lexer_finds_each_argument_with_what_follows_it() -> None:
    found, state = scan('t = airflow.BashOperator(task_id="a", env={"k": f(x=1)}, retr')
    assert _read(found) == [
        ("BashOperator", "task_id", "keyword"),
        ("BashOperator", "env", "keyword"),
        ("f", "x", "keyword"),
        ("BashOperator", "retr", "end"),
    ]
    assert found[-1].given == {"task_id", "env"}
    assert [f.callee for f in state.stack] == ["BashOperator"]


def test_strings_comments_and_lambdas_hide_nothing_and_invent_nothing() -> None:
    code = 'DAG(d, cmd="echo (x=1, y", fn=lambda a, b=2: a, doc=f"{z}")  # g(h=1)\n'
    found, state = scan(code)
    assert _read(found) == [
        ("DAG", "d", "positional"),
        ("DAG", "cmd", "keyword"),
        ("DAG", "fn", "keyword"),
        ("DAG", "doc", "keyword"),
    ]
    assert state == START


def test_the_state_carries_brackets_and_strings_over_lines() -> None:
    _, state = scan("with DAG(\n")
    found, state = scan('    doc_md="""Runs (\n', state)
    assert _read(found) == [("DAG", "doc_md", "keyword")] and state.quote == '"""'
    found, state = scan("    region=1) still the docstring\n", state)
    assert not found and state.quote == '"""'
    found, state = scan('""",\n    region="eu",\n', state)
    assert _read(found) == [("DAG", "region", "keyword")]
    assert scan("):\n", state)[1] == START


@pytest.mark.parametrize(
    ("series", "code", "why"),
    [
        ("3.1", 'DAG(dag_id="d", deferrable=True)', "DAG() takes no keyword argument 'deferrable' in Airflow 3.1"),
        ("3.1", 'DAG(dag_id="d", schedule_interval="@daily")', "no keyword argument 'schedule_interval'"),
        ("2.10", 'DAG(dag_id="d", schedule_interval="@daily")', None),
        ("3.0", 'BashOperator(task_id="t", bash_command="ls", retries=2, pool="p")', None),
        ("3.0", 'BashOperator(task_id="t", poke_interval=5)', "no keyword argument 'poke_interval'"),
        ("2.9", 'S3KeySensor(task_id="s", bucket_key="k", poke_interval=5, mode="reschedule")', None),
        ("3.1", "EmptyOperator(t)", "takes keyword arguments only"),
        ("3.1", 'Asset("s3://b/k", name="k")', None),
        ("3.1", "MyOwnThing(anything=1)", None),
    ],
)
def test_the_table_knows_what_each_class_takes_in_each_series(series: str, code: str, why: str | None) -> None:
    table = SeriesTable.for_version(series)
    assert table is not None
    found = table.keyword_refusal(code)
    assert found == why if why is None else why in (found or "")


def test_a_cut_name_needs_only_to_start_a_keyword_or_a_name_written_before() -> None:
    table = SeriesTable.for_version("3.1")
    assert table is not None
    assert table.keyword_refusal('BashOperator(task_id="t", bash_co', complete=False) is None
    assert table.keyword_refusal('BashOperator(task_id="t", bucket', complete=False) is not None
    assert table.keyword_refusal("DAG(DAG_", complete=False) is not None
    assert table.keyword_refusal("DAG(DAG_", complete=False, known=frozenset({"DAG_ID"})) is None


def test_no_keyword_is_given_twice_to_any_call() -> None:
    """Refused a keyword it invented, a model wrote one it had already given: a SyntaxError (2 written dev answers,
    2026-12-07)."""
    table = SeriesTable.for_version("3.1")
    assert table is not None
    twice = 'FileSensor(task_id="s", poke_interval=5, poke_interval=6)'
    assert "given 'poke_interval' twice" in (table.keyword_refusal(twice) or "")
    assert table.keyword_refusal('FileSensor(task_id="s", poke_interval=5, poke_', complete=False) is not None
    assert table.keyword_refusal('FileSensor(task_id="s", poke_interval=5, mo', complete=False) is None
    assert table.keyword_refusal("my_function(a=1, b=2, a=3)") is not None
    assert table.keyword_refusal("my_function(a=1, b=dict(a=2))") is None


def test_the_names_written_leave_out_strings_comments_attributes_and_keywords_given() -> None:
    """A positional argument may be a name the code wrote before, never a word of a comment: the model had written
    `# wait in deferrable mode`, then `deferrable=True` in `DAG(...)` (4 written dev answers, 2026-12-07)."""
    names: set[str] = set()
    code = 'DAG_ID = os.path.basename("x y")  # wait in deferrable mode\nwith DAG(dag_id=DAG_ID, tags=[t]):\n'
    scan(code, START, names)
    assert names == {"DAG_ID", "os", "with", "DAG", "t"}
