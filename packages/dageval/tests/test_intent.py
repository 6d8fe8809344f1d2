"""Level 6, intent: what Airflow really loaded against what the request asked for."""

from __future__ import annotations

import pytest

import dageval
from dageval import Level, Sample
from dageval.intent import check_intent, used_providers
from dageval.models import Expect, LoadedDag, LoadedTask

SENSOR = LoadedTask(
    operator="S3KeySensor",
    module="airflow.providers.amazon.aws.sensors.s3",
    bases=["BaseSensorOperator", "BaseOperator"],
    deferrable=True,
)
MAPPED = LoadedTask(operator="_PythonDecoratedOperator", bases=["DecoratedOperator"], mapped=True, retries=2)
DAILY = LoadedDag(dag_id="d", schedule="@daily", timetable="CronTriggerTimetable", tasks=[SENSOR, MAPPED])
CODE = """from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook
import airflow.providers.cncf.kubernetes

wait = S3KeySensor(task_id="wait", bucket_key="s3://b/k")


def pod():
    return airflow.providers.cncf.kubernetes
"""


@pytest.mark.parametrize(
    ("expect", "category"),
    [
        (None, ""),
        (Expect(), ""),
        (Expect(schedule="0 0 * * *", features=["sensor", "mapping", "retries", "deferrable", "taskflow"]), ""),
        (Expect(schedule="@daily", providers=["amazon", "cncf.kubernetes"], min_tasks=2), ""),
        (Expect(schedule="@hourly"), "intent_schedule"),
        (Expect(schedule="asset"), "intent_schedule"),
        (Expect(providers=["snowflake"]), "intent_provider"),
        (Expect(features=["branching"]), "intent_branching"),
        (Expect(features=["task_group"]), "intent_task_group"),
        (Expect(min_tasks=3), "intent_min_tasks"),
    ],
)
def test_each_expectation_against_the_loaded_dag(expect: Expect | None, category: str) -> None:
    result = check_intent(expect, [DAILY], CODE)
    assert result.level == Level.INTENT and result.ok is (category == "") and result.category == category
    if category:
        assert result.message  # says what was asked and what the DAG does


def test_asset_and_manual_schedules() -> None:
    asset = LoadedDag(schedule="Asset", timetable="AssetTriggeredTimetable", tasks=[SENSOR])
    manual = LoadedDag(schedule="None", timetable="NullTimetable", tasks=[SENSOR])
    assert check_intent(Expect(schedule="asset"), [asset], "").ok
    assert check_intent(Expect(schedule="none"), [manual], "").ok
    assert not check_intent(Expect(schedule="none"), [asset], "").ok
    assert check_intent(Expect(schedule="asset"), [], "").category == "intent_unknown"


def test_a_provider_counts_where_the_file_uses_what_it_imports() -> None:
    """The Snowflake hook is imported and never used: the file does not do what a Snowflake request asks."""
    assert used_providers(CODE, [DAILY]) == {"amazon", "amazon.aws", "cncf", "cncf.kubernetes"}
    assert used_providers(CODE) == {"cncf", "cncf.kubernetes"}  # the sensor counts only as a task Airflow loaded
    inside_a_task = (
        "from airflow.providers.postgres.hooks.postgres import PostgresHook as PG\n\ndef f():\n    PG().run('x')\n"
    )
    assert "postgres" in used_providers(inside_a_task)
    assert used_providers("from airflow.providers.slack.operators.slack_webhook import SlackWebhookOperator\n") == set()
    assert used_providers("def broken(:") == set()


def test_a_provider_made_at_module_level_counts_only_where_a_task_uses_it() -> None:
    """Written outside every task and DAG, a hook or an operator runs only while Airflow parses the file."""
    head = "from airflow.providers.amazon.aws.hooks.s3 import S3Hook\n"
    assert used_providers(head + "hook = S3Hook()\n") == set()
    assert used_providers(head + "hook = S3Hook()\n\ndef load():\n    hook.load_file('f', 'k')\n") >= {"amazon"}
    assert used_providers(head + "run = lambda: S3Hook().list_keys('b')\n") >= {"amazon"}
    slack = "from airflow.providers.slack.operators.slack_webhook import SlackWebhookOperator\n"
    outside = slack + "tell = SlackWebhookOperator(task_id='tell', message='done')\n"
    assert used_providers(outside) == set()  # no DAG loaded it as a task
    told = LoadedDag(tasks=[LoadedTask(operator="SlackWebhookOperator", module="airflow.providers.slack.operators.x")])
    assert "slack" in used_providers(outside, [told])


def test_unknown_expectations_are_refused() -> None:
    with pytest.raises(ValueError, match="features"):
        Expect.model_validate({"features": ["teleport"]})
    with pytest.raises(ValueError, match="extra"):
        Expect.model_validate({"scheduel": "@daily"})


MAPPED_DAILY = """from airflow.sdk import DAG, task
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="orders", schedule="@daily") as dag:
    @task(retries=2)
    def double(x: int) -> int:
        return 2 * x

    EmptyOperator(task_id="start") >> double.expand(x=[1, 2, 3])
"""


def test_intent_level_in_a_real_airflow() -> None:
    """The worker reports the loaded DAG; the same file meets one request and fails others."""
    asks = {
        "meets": Expect(schedule="0 0 * * *", features=["mapping", "retries", "taskflow"], min_tasks=2),
        "wrong_schedule": Expect(schedule="@hourly"),
        "no_branch": Expect(features=["branching"]),
        "nothing_asked": None,
    }
    samples = [
        Sample(id=name, completion=f"```python\n{MAPPED_DAILY}```", airflow_version="3.1.3", expect=expect)
        for name, expect in asks.items()
    ]
    verdicts = {v.sample_id: v for v in dageval.evaluate(samples, level=Level.INTENT, import_workers=1)}
    imported = verdicts["meets"].results[Level.IMPORT - 1]
    assert imported.ok and [d.dag_id for d in imported.loaded] == ["orders"]
    assert {t.operator for t in imported.loaded[0].tasks} >= {"EmptyOperator"}
    assert verdicts["meets"].passed == Level.INTENT and verdicts["nothing_asked"].passed == Level.INTENT
    assert verdicts["wrong_schedule"].failure is not None
    assert verdicts["wrong_schedule"].failure.category == "intent_schedule"
    assert verdicts["no_branch"].failure is not None and verdicts["no_branch"].failure.category == "intent_branching"
    summary = dageval.summarize(list(verdicts.values()), Level.INTENT)
    assert [row.level for row in summary.levels][-1] == "intent"
