"""The Python answer grammar (dagcore) under llama.cpp's own grammar sampler: real DAG files pass, broken ones are
refused where they break, and a server decoding under it writes only code that parses."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dagcore import PromptContract, extract_code, python_answer_grammar, with_answer_grammar
from dagserve._grammar import GrammarChecker, GrammarError

from .conftest import CONTRACT

TASKFLOW = '''from __future__ import annotations

import pendulum

from airflow.sdk import dag, task


@dag(schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False, tags=["etl"])
def orders():
    """Load orders."""

    @task(retries=2)
    def extract() -> dict[str, int]:
        return {"a": 1, 'b': 2, **{}}

    @task
    def load(rows: dict[str, int], *, limit: int | None = None) -> None:
        total = sum(v for v in rows.values() if v > 0)
        print(f"{total=} rows, {rows['a']:>4}")  # f-string fields are not checked

    load(extract())


orders()
'''

CLASSIC = r'''from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.utils.task_group import TaskGroup

default_args = {
    "owner": "data",  # who is paged
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}

with DAG(
    dag_id="nightly",
    default_args=default_args,
    schedule="0 2 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
) as dag:
    start = BashOperator(task_id="start", bash_command='echo "go"; exit 0')
    with TaskGroup("parts") as parts:
        steps = [BashOperator(task_id=f"part_{i}", bash_command="echo \"$i\"") for i in range(3)]
    sql = """
        SELECT *
        FROM "orders" WHERE day = '{{ ds }}'
    """
    done = BashOperator(
        task_id="done",
        bash_command=(
            "echo one "
            "two"
        ),
        trigger_rule="all_done",
    )
    start >> parts >> done
    steps[0] << start
'''

PYTHON = """import logging
import os, sys as system

log = logging.getLogger(__name__)
CONFIG: dict = {}
x = y = 0
x += 1; y -= 2
pair = (1,) if x else ()
key = lambda row, *a, **k: row[0]
data = [1, 2, 3][1:], {1, 2}, {k: v for k, v in {}.items()}, [i * 2 for i in range(4) if i % 2 == 0]


class Checker(object):
    limit: int = 3

    def __init__(self, name, /, *, strict=False):
        self.name = name

    async def run(self):
        try:
            await self.go()
        except (ValueError, KeyError) as e:
            raise RuntimeError("bad") from e
        except Exception:
            pass
        else:
            return -1
        finally:
            del self.name
        while not self.done and x is not None:
            break
        for i, (a, b) in enumerate([]):
            continue
        if x: return 0
        elif x not in (1, 2): return ~x ** 2 // 3
        assert x, "never"
        global CONFIG
        return x if x >= 0 else -x


def deep():
    if True:
        if True:
            if True:
                if True:
                    return 1
"""

BROKEN = {
    "a bracket left open": 'from airflow import DAG\n\nx = DAG(\n    dag_id="a",\n',
    "a string broken by its own quote": 'bash_command = "echo "hi""\nt = 1\n',
    "a line at a stray indentation": "x = 1\n   y = 2\n",
    "a block with no body": "def f():\n\nx = 1\n",
    "a statement without an operator": "x = 1 2\n",
    "arguments without a comma": 'BashOperator(task_id="a" bash_command="b")\n',
    "a string never closed": 'sql = """\nSELECT 1\n',
    "an assignment to an expression": "a >> b = EmptyOperator(task_id='b')\n",
    "a call as an annotated target": "def_etl(): 1\n",
    "a tuple augmented": "a, b += 1\n",
}


@pytest.fixture(scope="module")
def checker(tiny_gguf: Path) -> Iterator[GrammarChecker]:
    with GrammarChecker(tiny_gguf, python_answer_grammar()) as checker:
        yield checker


def _answer(code: str) -> str:
    return PromptContract().answer(code)


@pytest.mark.parametrize("code", [TASKFLOW, CLASSIC, PYTHON], ids=["taskflow", "classic", "python"])
def test_dag_files_and_the_python_they_use_are_accepted(checker: GrammarChecker, code: str) -> None:
    ast.parse(code)  # each is Python
    assert checker.refusal(_answer(code)) is None


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_code_is_refused_where_it_breaks(checker: GrammarChecker, name: str) -> None:
    code = BROKEN[name]
    with pytest.raises(SyntaxError):
        ast.parse(code)
    where = checker.refusal(_answer(code))
    assert where is not None, name
    # Refused inside the code (after the opening fence), not at the fence.
    assert where >= len("```python\n"), (name, where)


SCHEDULES_AIRFLOW_TAKES = [
    'schedule="*/10 * * * *"',
    "schedule='15 4 1,15 * mon-fri'",
    'schedule_interval="0 6 * * 1-5"',
    'schedule="@continuous"',
    "schedule=None",
    'schedule=[Asset("s3://lake/orders/")]',
    'schedule=(Asset("a") | Asset("b"))',
    "schedule=timedelta(hours=1)",
    "schedule=CronTriggerTimetable('0 1 * * *', timezone='UTC')",
    'scheduler="anything"',  # a different keyword, and positional strings, are not schedules
]
SCHEDULES_AIRFLOW_REFUSES = ['schedule="@morning"', 'schedule="4 * * *"', "schedule_interval='0 4 * * * * *'"]


@pytest.mark.parametrize("keyword", SCHEDULES_AIRFLOW_TAKES)
def test_a_schedule_keyword_takes_what_airflow_takes(checker: GrammarChecker, keyword: str) -> None:
    code = f'DAG("a", {keyword}, start_date=datetime(2024, 1, 1))\nprint("@morning", "4 * * *")\n'
    assert checker.refusal(_answer(code)) is None, keyword


@pytest.mark.parametrize("keyword", SCHEDULES_AIRFLOW_REFUSES)
def test_a_schedule_string_airflow_refuses_is_refused_in_the_string(checker: GrammarChecker, keyword: str) -> None:
    code = f'@dag(dag_id="a", {keyword})\ndef a():\n    pass\n'
    ast.parse(code)  # Python, but not a schedule
    where = checker.refusal(_answer(code))
    assert where is not None and where > len("```python\n") + code.index("=", code.index("sched")), keyword


def test_the_answer_is_one_block_and_nothing_else(checker: GrammarChecker) -> None:
    assert checker.refusal("Here is the DAG:\n" + _answer("x = 1")) == 0  # no preamble
    assert checker.refusal(_answer("x = 1") + "\nDone.") is not None  # nothing after the closing fence
    assert checker.refusal("```python\nx = 1\n", complete=False) is None  # a prefix of an answer
    assert checker.refusal("```python\nx = 1\n") == len("```python\nx = 1\n")  # but not a whole answer


def test_the_fences_come_from_the_contract_and_a_template_without_code_is_refused() -> None:
    contract = PromptContract(answer_template="<code>\n{code}\n</code>")
    assert python_answer_grammar(contract).startswith('root ::= "<code>\\n"')
    assert with_answer_grammar({"repeat_penalty": 1.0}, contract) == {
        "repeat_penalty": 1.0,
        "grammar": python_answer_grammar(contract),
        "name_guard": True,
    }
    assert with_answer_grammar({"name_guard": False}, contract)["name_guard"] is False  # a caller may leave it out
    # With a version goes the version guard, for its series; a caller may turn it off too.
    assert with_answer_grammar({}, contract, "a DAG", airflow_version="3.1.8")["version_guard"] == "3.1"
    assert (
        with_answer_grammar({"version_guard": None}, contract, "a DAG", airflow_version="2.10")["version_guard"] is None
    )
    with pytest.raises(ValueError, match="no \\{code\\} field"):
        python_answer_grammar(PromptContract(answer_template="```python\n```"))


def test_a_grammar_llama_cpp_cannot_parse_is_a_clear_error(tiny_gguf: Path) -> None:
    with pytest.raises(GrammarError, match="could not parse the grammar"):
        GrammarChecker(tiny_gguf, "root ::= (")


def test_a_server_decoding_under_it_writes_only_what_it_accepts(server: str, checker: GrammarChecker) -> None:
    """Sampled hot from random weights, the tiny model's answers stay inside the grammar (those that end, parse);
    the same requests without it leave the grammar at once."""
    contract = PromptContract.from_metadata(CONTRACT)

    def ask(seed: int, fields: dict[str, str]) -> tuple[str, str]:
        body = {"messages": [{"role": "user", "content": "a DAG"}], "max_tokens": 120, "temperature": 1.6}
        reply = httpx.post(f"{server}/v1/chat/completions", json={**body, "seed": seed, **fields}, timeout=120)
        choice = reply.json()["choices"][0]
        return choice["message"]["content"], choice["finish_reason"]

    for seed in range(6):
        text, finish = ask(seed, with_answer_grammar({}, contract))
        assert text.startswith("```python\n"), text
        assert checker.refusal(text, complete=finish == "stop") is None, text
        if finish == "stop":
            ast.parse(extract_code(text) or "")
        free, _ = ask(seed, {})
        assert checker.refusal(free, complete=False) is not None, free


def test_a_decorator_is_followed_by_what_it_decorates(checker: GrammarChecker) -> None:
    """Stacked `@task` lines with no `def` were 9 of the 23 written dev answers cut at the token limit."""
    stacked = "@dag(schedule=None)\n@other\ndef a():\n    @task\n    # a comment between\n    def b():\n        pass\n"
    assert checker.refusal(_answer(stacked)) is None
    with pytest.raises(SyntaxError):
        ast.parse("x = 1\n@task\nx = 2\n")
    assert checker.refusal(_answer("x = 1\n@task\nx = 2\n")) is not None
    five = "@task\n" * 5 + "def a():\n    pass\n"  # Python, but past MAX_DECORATORS: a loop, not a DAG
    assert checker.refusal(_answer(five)) == len("```python\n") + len("@task\n" * 4)
    product = 'x = ("a"\n@task\n@task)\n'  # Python (matrix products), but inside a bracket it is the same loop
    ast.parse(product)
    assert checker.refusal(_answer(product)) == len("```python\n") + product.index("@")


def test_a_string_ends_where_its_words_do(checker: GrammarChecker) -> None:
    """The last string of an expression does not end in a space: `"echo "` closed before its words
    (`"echo "Report ready."`) cannot go on, so the model writes `'` or the words instead. A space-only string
    (`" ".join`) and strings joined across lines keep theirs."""
    for code in ['x = " ".join(["a"])\n', 'x = ("echo one "\n     "two")\n', "x = 'a ' 'b'\n"]:
        assert checker.refusal(_answer(code)) is None, code
    broken = 'BashOperator(task_id="a", bash_command="echo "Report ready.")\n'
    where = checker.refusal(_answer(broken))
    assert where == len("```python\n") + broken.index("Report"), where
    assert checker.refusal(_answer('print("rows: ", 3)\n')) is not None  # the price: Python, but refused


def test_a_schedule_the_request_asks_for_is_the_only_one_written(tiny_gguf: Path) -> None:
    def refusal(request: str, code: str) -> int | None:
        with GrammarChecker(tiny_gguf, python_answer_grammar(request=request)) as checker:
            return checker.refusal(_answer(code))

    daily_at_five = "Load the orders into the warehouse every day at 5am."
    assert refusal(daily_at_five, 'DAG("a", schedule="0 5 * * *")\n') is None
    assert refusal(daily_at_five, "DAG('a', schedule_interval='0 5 * * *')\n") is None
    for wrong in ['schedule="5 * * * *"', 'schedule="@daily"', "schedule=None", "schedule=timedelta(days=1)"]:
        assert refusal(daily_at_five, f"DAG('a', {wrong})\n") is not None, wrong
    assert refusal("daily at midnight", 'DAG("a", schedule="@daily")\n') is None  # its preset is the same schedule
    assert refusal("manual trigger only", "DAG('a', schedule=None)\n") is None
    assert refusal("manual trigger only", "DAG('a', schedule='@daily')\n") is not None
    on_asset = "whenever the orders asset is updated, rebuild the report"
    assert refusal(on_asset, 'DAG("a", schedule=[Asset("s3://o/")])\n') is None
    assert refusal(on_asset, "DAG('a', schedule=orders_asset)\n") is None
    assert refusal(on_asset, 'DAG("a", schedule=Dataset("s3://o/") | Dataset("s3://p/"))\n') is None
    for wrong in ["schedule=None", 'schedule="@daily"', "schedule=None_", "schedule=datetime(2024, 1, 1)"]:
        assert refusal(on_asset, f"DAG('a', {wrong})\n") is not None, wrong
    unclear = "run it every day at 6:15 and again at 7:40"  # two times: not a cron; the grammar leaves it free
    assert python_answer_grammar(request=unclear) == python_answer_grammar()


def test_the_providers_a_request_names_are_imported_where_composed_files_import_them(tiny_gguf: Path) -> None:
    """The import block comes first, as composed files write it for the version, the providers' lines sorted in; the
    model writes the rest (and must use them to meet the request's intent)."""
    request = "Copy each day's export from s3://acme/exports/ into Snowflake."
    block = (
        "from datetime import datetime, timedelta\n\n"
        "from airflow import DAG\n"
        "from airflow.datasets import Dataset\n"
        "from airflow.decorators import dag, task, task_group\n"
        "from airflow.operators.bash import BashOperator\n"
        "from airflow.operators.empty import EmptyOperator\n"
        "from airflow.operators.python import PythonOperator\n"
        "from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n"
        "from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook\n"
    )
    with GrammarChecker(tiny_gguf, python_answer_grammar(request=request, airflow_version="2.10")) as checker:
        assert checker.refusal(_answer(block + "\nhook = SnowflakeHook()\n")) is None
        assert checker.refusal(_answer(block.replace(", timedelta", "") + "\nhook = SnowflakeHook()\n")) is None
        left_out = block.replace("from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n", "")
        assert checker.refusal(_answer(left_out)) == len("```python\n") + left_out.index("snowflake"), left_out
    # no provider named, or no version to write the block for: the opening is the model's
    assert python_answer_grammar(request="echo hello with bash", airflow_version="3.1") == python_answer_grammar()
    assert "S3Hook" not in python_answer_grammar(request=request)
