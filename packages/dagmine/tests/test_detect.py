"""Is a file a DAG file (by what running it does), and what static analysis says about it."""

from __future__ import annotations

import ast

import pytest

from dagmine import DagInfo
from dagmine._detect import analyze, is_dag_module, may_define_dag

DAG_FILES = {
    "with_dag": """from airflow import DAG

with DAG("with_dag") as dag:
    pass
""",
    "assignment": """from airflow.models.dag import DAG

dag = DAG(dag_id="assigned")
""",
    "models_module_attribute": """import airflow.models

dag = airflow.models.DAG("attribute")
""",
    "aliased_import": """from airflow import DAG as D

with D("aliased") as d:
    pass
""",
    "dag_decorator_called": """from airflow.decorators import dag, task


@dag(schedule=None)
def my_flow():
    @task
    def hello():
        return 1

    hello()


my_flow()
""",
    "dag_decorator_without_parentheses": """from airflow.decorators import dag


@dag
def bare_flow():
    pass


instance = bare_flow()
""",
    "aliased_dag_decorator": """from airflow.decorators import dag as make_dag


@make_dag(dag_id="explicit_id")
def flow():
    pass


flow()
""",
    "factory_called": """from airflow import DAG


def make(name):
    with DAG(name) as d:
        pass
    return d


made = make("factory")
""",
    "factory_in_loop": """from airflow import DAG


def make(i):
    return DAG(f"dynamic_{i}")


for i in range(3):
    globals()[f"dag_{i}"] = make(i)
""",
    "sdk_with_dag": """from airflow.sdk import DAG, task

with DAG(dag_id="sdk_dag", schedule="@hourly") as dag:

    @task
    def a():
        pass

    a()
""",
    "sdk_dag_decorator": """from airflow.sdk import dag, task


@dag
def sdk_flow():
    @task.bash
    def b():
        return "echo hi"

    b()


sdk_flow()
""",
    "inside_if_and_try": """from airflow import DAG

if True:
    try:
        dag = DAG("guarded")
    except ImportError:
        dag = None
""",
}

NOT_DAG_FILES = {
    "decorator_never_called": """from airflow.decorators import dag


@dag(schedule=None)
def my_flow():
    pass
""",
    "only_in_test_function": """from airflow.models.dag import DAG


def test_dag():
    dag = DAG("test_dag")
    assert dag.dag_id == "test_dag"
""",
    "only_in_test_method": """from airflow.models.dag import DAG


class TestDag:
    def test_it(self):
        dag = DAG("in_method")
""",
    "factory_never_called": """from airflow import DAG


def make(name):
    return DAG(name)
""",
    "lambda_never_called": """from airflow import DAG

make = lambda: DAG("lazy")
""",
    "names_dag_but_builds_none": """from airflow.models.dag import DAG

DAG_FOLDER = "/opt/airflow/dags"


def is_dag(obj):
    return isinstance(obj, DAG)
""",
}


@pytest.mark.parametrize("name", sorted(DAG_FILES))
def test_dag_files(name: str) -> None:
    assert is_dag_module(ast.parse(DAG_FILES[name]))


@pytest.mark.parametrize("name", sorted(DAG_FILES))
def test_prefilter_lets_every_dag_file_through(name: str) -> None:
    """The byte gate runs before parsing: a DAG file it rejects is lost as not_dag, and not even listed."""
    assert may_define_dag(DAG_FILES[name].encode())


@pytest.mark.parametrize("name", sorted(NOT_DAG_FILES))
def test_not_dag_files(name: str) -> None:
    assert not is_dag_module(ast.parse(NOT_DAG_FILES[name]))


def test_prefilter() -> None:
    assert may_define_dag(b"dag = DAG('x')")
    assert may_define_dag(b"with models.DAG (\n")
    assert may_define_dag(b"from airflow import DAG as AirflowDAG")
    assert not may_define_dag(b"from airflow import DAG  # imported for type hints only")
    assert may_define_dag(b"@dag()\ndef f(): ...")
    assert may_define_dag(b"@airflow.decorators.dag\n")
    assert may_define_dag(b"x = dag(schedule=None)")
    assert not may_define_dag(b"def chunks(items):\n    return items\n")
    assert not may_define_dag(b"DAGS_FOLDER = 1\ndag_id = 'x'\n")


def info(source: str) -> DagInfo:
    result = analyze(ast.parse(source))
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("name", "dag_ids"),
    [
        ("with_dag", ["with_dag"]),
        ("assignment", ["assigned"]),
        ("models_module_attribute", ["attribute"]),
        ("aliased_import", ["aliased"]),
        ("dag_decorator_called", ["my_flow"]),  # the function name is the default dag id
        ("dag_decorator_without_parentheses", ["bare_flow"]),
        ("aliased_dag_decorator", ["explicit_id"]),
        ("factory_called", []),  # computed from a parameter: left out
        ("factory_in_loop", []),
        ("sdk_with_dag", ["sdk_dag"]),
        ("sdk_dag_decorator", ["sdk_flow"]),
        ("inside_if_and_try", ["guarded"]),
    ],
)
def test_dag_ids(name: str, dag_ids: list[str]) -> None:
    assert info(DAG_FILES[name]).dag_ids == dag_ids


def test_analyze_classic_dag() -> None:
    source = '''"""Moves data around."""

from datetime import timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor, S3KeySensorAsync

DAG_ID = "example_constants"

with DAG(DAG_ID, schedule=timedelta(days=1), doc_md="Not used: the docstring wins") as dag:
    wait = S3KeySensor(task_id="wait", bucket_key="k")
    wait_async = S3KeySensorAsync(task_id="wait_async", bucket_key="k")
    first = BashOperator(task_id="first", bash_command="echo 1")
    second = BashOperator(task_id="second", bash_command="echo 2")
    wait >> wait_async >> first >> second

with DAG("second_dag", schedule="@daily") as other:
    BashOperator(task_id="third", bash_command="echo 3")
'''
    assert info(source) == DagInfo(
        dag_ids=["example_constants", "second_dag"],
        task_count=5,
        operators=["BashOperator", "S3KeySensor", "S3KeySensorAsync"],
        imports=["airflow", "airflow.operators.bash", "airflow.providers.amazon.aws.sensors.s3", "datetime"],
        schedule="timedelta(days=1)",
        docstring="Moves data around.",
    )


def test_analyze_taskflow() -> None:
    source = """import pendulum

from airflow.decorators import dag, task, task_group


@dag(schedule_interval="@hourly", start_date=pendulum.datetime(2024, 1, 1), doc_md="TaskFlow docs")
def etl():
    @task
    def extract():
        return 1

    @task.python(multiple_outputs=False)
    def transform(x):
        return x + 1

    @task_group
    def group():
        extract()

    transform(extract())
    group()


etl()
"""
    assert info(source) == DagInfo(
        dag_ids=["etl"],
        task_count=3,  # three task calls; the task group is not a task
        operators=[],
        imports=["airflow.decorators", "pendulum"],
        schedule="'@hourly'",
        docstring="TaskFlow docs",
    )


def test_analyze_schedule_forms() -> None:
    assert info('from airflow import DAG\ndag = DAG("a", schedule=None)\n').schedule == "None"
    assert info('from airflow import DAG\ndag = DAG("a", schedule_interval="0 * * * *")\n').schedule == "'0 * * * *'"
    assert info('from airflow import DAG\ndag = DAG("a", timetable=MyTimetable())\n').schedule == "MyTimetable()"
    assert info('from airflow import DAG\ndag = DAG("a")\n').schedule is None


def test_analyze_docstring_from_doc_md_constant() -> None:
    source = 'from airflow import DAG\n\nDOC = "Docs in a constant"\n\ndag = DAG("a", doc_md=DOC)\n'
    assert info(source).docstring == "Docs in a constant"


def test_analyze_sdk_dag() -> None:
    result = info(DAG_FILES["sdk_with_dag"])
    assert result == DagInfo(
        dag_ids=["sdk_dag"], task_count=1, operators=[], imports=["airflow.sdk"], schedule="'@hourly'"
    )


def test_analyze_imports_include_function_level_imports() -> None:
    source = """from airflow import DAG

dag = DAG("a")


def callback():
    import json

    from airflow.models import Variable
"""
    assert info(source).imports == ["airflow", "airflow.models", "json"]
