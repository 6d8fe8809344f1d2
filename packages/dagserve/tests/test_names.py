"""The name guard (monitor-guided decoding): where a DAG file runs at import, a name it loads must exist already.

The guard reads the answer as the decoder writes it; here each file is fed one character at a time, and every
character the guard would refuse is reported with its line. The failures are the tuned model's own (NameErrors a
real Airflow raised on its answers to the written dev requests); the files that must pass are real DAG shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from dagserve._names import NameGuard

from .test_answer_grammar import CLASSIC, TASKFLOW


def refusals(code: str) -> list[str]:
    """Where the guard refuses in `code` (an answer's code block): each refusal's line up to the end of the name it
    refused (or to the character that showed an unknown name loaded, as in `report.`)."""
    guard = NameGuard()
    text = f"```python\n{code}```\n"
    found: list[str] = []
    for i, c in enumerate(text):
        if not guard.allows(c):
            start, end = text.rfind("\n", 0, i) + 1, i + 1
            while (c.isalnum() or c == "_") and (text[end].isalnum() or text[end] == "_"):
                end += 1
            found.append(text[start:end].strip())
        guard.accept(c)  # as the decoder does when nothing better was allowed: the guard lets it through
    return found


@pytest.mark.parametrize("code", [CLASSIC, TASKFLOW], ids=["classic", "taskflow"])
def test_real_dag_files_pass_untouched(code: str) -> None:
    assert refusals(code) == []


HEADER = "from datetime import datetime\n\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n\n"


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        # a task it wrote as `load`, loaded as `load_task`: refused at the first letter no defined name has
        ('    load = BashOperator(task_id="load", bash_command="true")\n    load >> load_task\n', "load >> load_task"),
        # a class it never imported
        ('    with TaskGroup(group_id="g") as g:\n        pass\n', "with TaskGroup"),
        # `timedelta` used with only `datetime` imported (the commonest NameError on the written dev set)
        ('    t = BashOperator(task_id="t", bash_command="true", retry_delay=timedelta(minutes=5))\n', "=timedelta"),
        # a value that is the name being assigned: Python evaluates it first
        ('    aggregate = BashOperator(task_id="a", bash_command="true", sla=aggregate)\n', "=aggregate"),
        # a dependency list's member, and a statement that starts with an unknown name
        ('    start = BashOperator(task_id="s", bash_command="true")\n    start >> [load, end]\n', "[load"),
        ("    report.set_upstream(dag)\n", "report."),
        # a dict's value, and a decorator never imported
        ('    args = {"retry_delay": timedelta(minutes=5)}\n', ": timedelta"),
        ("@task\ndef extract():\n    pass\n", "@task"),
    ],
)
def test_undefined_names_where_the_module_runs_are_refused(body: str, refused: str) -> None:
    code = HEADER + 'with DAG(dag_id="d", start_date=datetime(2024, 1, 1), schedule=None) as dag:\n' + body
    found = refusals(code)
    assert found, code
    assert found[0].replace(" ", "").endswith(refused.replace(" ", "")), found


def test_code_that_does_not_run_at_import_and_names_that_are_not_loads_pass() -> None:
    code = (
        HEADER
        + "import pendulum as pm\n"
        + "from airflow.operators.python import PythonOperator as PO\n\n"
        + "def helper(rows, *args, limit=None, **kwargs):\n"
        + "    # a task's body runs when the task runs: its names are not checked here\n"
        + "    total = undefined_until_runtime(rows) + context['ti']\n"
        + "    return [r for r in rows if r > limit]\n\n\n"
        + "tables = ['a', 'b']\n"
        + 'with DAG(dag_id="d", start_date=pm.datetime(2024, 1, 1), schedule=None, params={"n": 1}) as dag:\n'
        + '    first, second = PO(task_id="x", python_callable=helper), PO(task_id="y", python_callable=lambda: 1)\n'
        + '    loads = [BashOperator(task_id=f"load_{t}", bash_command=f"echo {t} {{{{ ds }}}}") for t in tables]\n'
        + "    for t in loads:\n"
        + "        first >> t >> second\n"
        + "    first >> [second, *loads] if len(loads) > 1 else None\n"
        + '    summary = """not code: >> undefined"""  # nor this >> undefined\n'
    )
    assert refusals(code) == []


def test_a_dag_function_runs_at_import_and_a_task_body_does_not() -> None:
    code = (
        "from airflow.decorators import dag, task\n\n\n"
        "@dag(schedule=None)\n"
        "def pipeline(limit=3):\n"
        "    @task\n"
        "    def extract():\n"
        "        return fetch_rows(limit)  # runs in the task: not checked\n\n"
        "    rows = extract()\n"
        "    rows >> load_rows()\n\n\n"
        "pipeline()\n"
    )
    assert refusals(code) == ["rows >> load_rows"]


def test_after_a_star_import_nothing_is_checked_and_prose_is_never_checked() -> None:
    assert refusals("from airflow.operators.bash import *\n\nx = BashOperator\n") == []
    guard = NameGuard()
    guard.accept("Here is the DAG, using undefined_name:\n")
    assert guard.allows("x = undefined_name")  # not code yet: no fence
    guard.accept("```python\n")
    assert not guard.allows("x = undefined_name")
    guard.accept("x = 1\n```\nNow prose again: y = undefined_name")
    assert guard.allows("z = undefined_name")


def test_the_server_decodes_under_the_guard_greedy_and_sampled(server: str, ask: Callable[..., str]) -> None:
    """On the tiny model (random weights: left alone it writes one long identifier) the grammar says where a name
    goes; the guard makes it one the code has (an import, a builtin or a keyword)."""
    grammar = 'root ::= "```python\\nfrom m import alpha\\nx = " [a-z]+ "\\n```"'
    defined = {"alpha"} | {name for name in NameGuard()._names if re.fullmatch(r"[a-z]+", name)}
    free = ask(server, grammar, temperature=0.0)
    assert free.split("x = ")[1].split("\n")[0] not in defined  # unguarded, the tiny model invents a name
    before = httpx.get(f"{server}/health").json()["names_refused_tokens"]
    answers = [ask(server, grammar, temperature=0.0, name_guard=True)]
    answers += [ask(server, grammar, temperature=1.5, seed=seed, name_guard=True) for seed in range(4)]
    for answer in answers:
        assert answer.split("x = ")[1].split("\n")[0] in defined, answer
    assert httpx.get(f"{server}/health").json()["names_refused_tokens"] > before


def test_when_the_grammar_leaves_no_defined_name_the_grammar_wins(server: str, ask: Callable[..., str]) -> None:
    grammar = 'root ::= "```python\\nx = zzq\\n```"'
    assert ask(server, grammar, temperature=0.0, name_guard=True) == "```python\nx = zzq\n```"


TASKS = (
    HEADER
    + "from airflow.decorators import task\n"
    + "from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n\n\n"
    + "@task\ndef extract():\n    return 1\n\n\n"
    + 'with DAG(dag_id="d", start_date=datetime(2024, 1, 1), schedule=None) as dag:\n'
    + '    start = BashOperator(task_id="start", bash_command="true")\n'
    + '    load = BashOperator(task_id="load", bash_command="true")\n'
    + '    done = BashOperator(task_id="done", bash_command="true")\n'
    + '    hook = S3Hook(aws_conn_id="aws_default")\n'
    + '    bucket = "s3://lake"\n'
)


@pytest.mark.parametrize(
    ("lines", "refused"),
    [
        # cycles: a task after itself, across statements, through a list
        ("start >> start\n", "start >> start"),
        ("start >> load\nload >> done\ndone >> start\n", "done >> start"),
        ("start >> [load, done] >> start\n", "start >> [load, done] >> start"),
        ("done << load\nload << done\n", "load << done"),
        # operands `>>` fails on at import: a hook, a string, the DAG, a `@task` function never called
        ("start >> hook\n", "start >> hook"),
        ("start >> bucket\n", "start >> bucket"),
        ("dag >> start\n", "dag >>"),
        ("start >> extract >> done\n", "start >> extract"),
    ],
)
def test_dependencies_that_fail_at_import_are_refused(lines: str, refused: str) -> None:
    code = TASKS + "".join(f"    {line}" for line in lines.splitlines(keepends=True))
    found = refusals(code)
    assert found and found[0] == refused, found


def test_dependencies_between_tasks_pass() -> None:
    code = TASKS + (
        "    with TaskGroup('g') as group:\n"
        "        inner = BashOperator(task_id='inner', bash_command='true')\n"
        "    start >> [load, group] >> done\n"
        "    extract() >> load\n"
        "    start >> extract.override(task_id='e2')() >> done\n"
        "    hook.get_conn()\n"
    )
    code = code.replace("import S3Hook\n", "import S3Hook\nfrom airflow.utils.task_group import TaskGroup\n")
    assert refusals(code) == []


def test_a_task_id_used_twice_in_one_dag_is_refused_where_its_string_would_close() -> None:
    twice = TASKS + '    again = BashOperator(task_id="load", bash_command="true")\n'
    assert refusals(twice) == ['again = BashOperator(task_id="load"']
    # a group prefixes its tasks' ids, an f-string's id is not known, and each DAG has its own ids
    fine = TASKS.replace("import S3Hook\n", "import S3Hook\nfrom airflow.utils.task_group import TaskGroup\n") + (
        '    with TaskGroup("g") as g:\n'
        '        inner = BashOperator(task_id="load", bash_command="true")\n'
        '    per_day = [BashOperator(task_id=f"load_{d}", bash_command="true") for d in "ab"]\n'
        'with DAG(dag_id="e", start_date=datetime(2024, 1, 1), schedule=None) as other:\n'
        '    load = BashOperator(task_id="load", bash_command="true")\n'
    )
    assert refusals(fine) == []


def test_targets_in_a_list_are_bound_and_later_members_of_a_list_are_loads() -> None:
    code = (
        HEADER
        + 'with DAG(dag_id="d", start_date=datetime(2024, 1, 1), schedule=None) as dag:\n'
        + '    [a, b] = [BashOperator(task_id=f"t{i}", bash_command="true") for i in range(2)]\n'
        + "    a >> [b]\n"
        + '    settings = {"retries": 1, retry_delay: 5}\n'
    )
    assert refusals(code) == ['settings = {"retries": 1, retry_delay']


def test_an_answer_whose_grammar_stacks_explode_is_cut_not_left_to_hold_the_server(server: str) -> None:
    """Two ways to close each bracket double llama.cpp's parse stacks at every `[` (what the base model met in the
    answer grammar, nesting `TaskGroup[` in `TaskGroup[`): the server cuts the answer once one token's accept is
    slow, as it cuts a loop, instead of spending minutes on the next tokens."""
    grammar = 'root ::= nest\nnest ::= "[" nest "a" | "[" nest "b" | "c"'
    before = httpx.get(f"{server}/health").json()["grammar_stalls"]
    body = {"prompt": "x", "grammar": grammar, "max_tokens": 400, "temperature": 0.0, "stop_repeats": 0}
    reply = httpx.post(  # `c` (byte 99) banned: the model can only open brackets
        f"{server}/v1/completions", json=body | {"logit_bias": {"99": -100}}, timeout=120
    ).json()
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] < 400  # cut where the grammar stalled, not at max_tokens
    assert set(reply["choices"][0]["text"]) == {"["}
    assert httpx.get(f"{server}/health").json()["grammar_stalls"] == before + 1


def test_a_refused_greedy_pick_is_redone_from_the_likeliest_tokens_as_masking_would_redo_it(
    server: str, ask: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`GuidedSampler._first_allowed` checks the likeliest tokens one by one instead of masking the vocabulary;
    greedy answers under the answer grammar and both guards are the same either way, token for token."""
    from dagcore import python_answer_grammar
    from dagserve._grammar import GuidedSampler

    quick_picks = 0
    first_allowed = GuidedSampler._first_allowed

    def counted(self: GuidedSampler, logits: object) -> int | None:
        nonlocal quick_picks
        token = first_allowed(self, logits)  # type: ignore[arg-type]
        quick_picks += token is not None
        return token

    monkeypatch.setattr(GuidedSampler, "_first_allowed", counted)
    requests = ["a DAG", "load the orders every hour", "copy files from S3 to GCS daily, then email me"]
    fields = {"max_tokens": 96, "temperature": 0.0, "name_guard": True, "version_guard": "3.1"}
    default = GuidedSampler.QUICK_CANDIDATES
    answers = {}
    for quick in (default, 0):
        monkeypatch.setattr(GuidedSampler, "QUICK_CANDIDATES", quick)
        answers[quick] = [
            ask(server, python_answer_grammar(), messages=[{"role": "user", "content": r}], **fields) for r in requests
        ]
    assert answers[default] == answers[0]
    assert quick_picks > 0  # the quick path redid picks (the tiny model's random weights break the grammar)
