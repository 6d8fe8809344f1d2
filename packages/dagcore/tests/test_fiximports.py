"""fix_imports: Airflow imports moved to where the target major has them; everything else left alone."""

from __future__ import annotations

import ast
from datetime import timedelta

from dagcore import fix_imports

AIRFLOW_3_STYLE = '''"""Load orders."""
from datetime import datetime

from airflow.sdk import dag, task, Asset
from airflow.providers.standard.operators.bash import BashOperator  # the shell step
from airflow.providers.postgres.hooks.postgres import PostgresHook


@dag(schedule=[Asset("s3://orders")], start_date=datetime(2024, 1, 1), catchup=False)
def orders():
    @task
    def load():
        return PostgresHook("pg").get_records("select 1")

    BashOperator(task_id="done", bash_command="echo done") >> load()


orders()
'''


def _imports(code: str) -> dict[str, str]:
    return {
        a.asname or a.name: node.module or ""
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }


def test_airflow_3_imports_move_to_airflow_2_and_the_asset_becomes_a_dataset() -> None:
    fixed = fix_imports(AIRFLOW_3_STYLE, "2.10")
    imports = _imports(fixed.code)
    assert imports["dag"] == imports["task"] == "airflow.decorators"
    assert imports["BashOperator"] == "airflow.operators.bash"
    assert imports["Dataset"] == "airflow.datasets" and "Asset" not in fixed.code
    assert imports["PostgresHook"] == "airflow.providers.postgres.hooks.postgres"  # providers keep their path
    assert 'schedule=[Dataset("s3://orders")]' in fixed.code
    assert '"""Load orders."""' in fixed.code and "orders()\n" in fixed.code
    assert any(c.startswith("dag: airflow.sdk -> airflow.decorators") for c in fixed.changes)
    # back again: the same file for Airflow 3 is what we started from, up to the order of the moved lines
    back = fix_imports(fixed.code, "3.1")
    assert _imports(back.code) == _imports(AIRFLOW_3_STYLE)


def test_a_file_already_right_for_its_version_is_returned_as_it_is() -> None:
    fixed = fix_imports(AIRFLOW_3_STYLE, "3.0")
    assert fixed.code == AIRFLOW_3_STYLE and fixed.changes == []


def test_a_known_name_used_but_never_imported_is_imported_after_the_leading_imports() -> None:
    code = '"""Doc."""\nfrom datetime import datetime\n\n\n@task\ndef hello():\n    return 1\n\nDAG("x")\n'
    fixed = fix_imports(code, "2.9")
    assert _imports(fixed.code) == {"datetime": "datetime", "DAG": "airflow", "task": "airflow.decorators"}
    tree = ast.parse(fixed.code)
    assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[-1], ast.Expr)


def test_timedelta_used_but_never_imported_joins_the_file() -> None:
    code = 'from datetime import datetime\n\nfrom airflow import DAG\n\nargs = {"retry_delay": timedelta(minutes=5)}\n'
    fixed = fix_imports(code, "2.10")
    assert fixed.changes == ["timedelta: imported from datetime"]
    assert _imports(fixed.code) == {"datetime": "datetime", "timedelta": "datetime", "DAG": "airflow"}
    namespace: dict[str, object] = {}
    exec(compile(fixed.code.replace("from airflow import DAG\n", ""), "dag.py", "exec"), namespace)
    assert namespace["args"] == {"retry_delay": timedelta(minutes=5)}


def test_unknown_names_aliases_and_unparsable_files_are_kept() -> None:
    code = "from airflow.sdk import task as t, Unknown\n\n@t\ndef f():\n    Unknown()\n"
    fixed = fix_imports(code, "2.10")
    imports = _imports(fixed.code)
    assert imports["t"] == "airflow.decorators" and imports["Unknown"] == "airflow.sdk"
    broken = "from airflow.sdk import dag\ndef f(:\n"
    assert fix_imports(broken, "2.10").code == broken
    assert fix_imports(code, None).changes == []


def test_drop_unused_keeps_what_the_file_uses_and_only_airflow_lines_lose_names() -> None:
    code = """from datetime import datetime, timedelta

from airflow.sdk import Asset, DAG, dag, task, task_group
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import (
    PythonOperator,
)


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def tidy():
    @task
    def items():
        return [1, 2]

    @task
    def one(x):
        print(x)

    BashOperator(task_id="hi", bash_command="echo hi") >> one.expand(x=items())


tidy()
"""
    fixed = fix_imports(code, "3.1", drop_unused=True)
    assert _imports(fixed.code) == {
        "datetime": "datetime",  # the datetime line keeps what the file uses
        "dag": "airflow.sdk",
        "task": "airflow.sdk",
        "BashOperator": "airflow.providers.standard.operators.bash",
    }
    assert fixed.changes == [
        "timedelta: unused, dropped",
        "Asset: unused, dropped",
        "DAG: unused, dropped",
        "task_group: unused, dropped",
        "EmptyOperator: unused, dropped",
        "PythonOperator: unused, dropped",
    ]
    assert fixed.code.endswith("tidy()\n") and "from airflow.sdk import dag, task\n" in fixed.code
    assert fix_imports(code, "3.1").code == code  # off unless asked: evaluations see the file as written
    assert fix_imports(fixed.code, "3.1", drop_unused=True).changes == []


def test_a_name_is_moved_only_where_the_real_series_has_it() -> None:
    # dagcore.names puts BaseHook in airflow.sdk for Airflow 3; a real 3.0 install has it only in airflow.hooks.base.
    code = "from airflow.hooks.base import BaseHook\n\nhook = BaseHook\n"
    assert fix_imports(code, "3.0").code == code
    assert fix_imports(code, "3.1").code == "from airflow.sdk import BaseHook\n\nhook = BaseHook\n"
