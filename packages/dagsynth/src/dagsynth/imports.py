"""Where each name lives, per Airflow series: the one fact that most often makes a generated DAG fail to load.

Airflow 3 moved the authoring API to `airflow.sdk` and the core operators and sensors to the `standard`
provider; provider operators keep their paths. Every composed file is loaded in a real Airflow of its
version before it is kept, so a wrong entry here drops files instead of teaching them (the compose
report counts failures per step kind).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

# name -> (module in Airflow 2.x, module in Airflow 3.x)
_CORE: dict[str, tuple[str, str]] = {
    "DAG": ("airflow", "airflow.sdk"),
    "dag": ("airflow.decorators", "airflow.sdk"),
    "task": ("airflow.decorators", "airflow.sdk"),
    "TaskGroup": ("airflow.utils.task_group", "airflow.sdk"),
    "Param": ("airflow.models.param", "airflow.sdk"),
    "Dataset": ("airflow.datasets", ""),
    "Asset": ("", "airflow.sdk"),
    "BashOperator": ("airflow.operators.bash", "airflow.providers.standard.operators.bash"),
    "PythonOperator": ("airflow.operators.python", "airflow.providers.standard.operators.python"),
    "EmptyOperator": ("airflow.operators.empty", "airflow.providers.standard.operators.empty"),
    "EmailOperator": ("airflow.operators.email", "airflow.providers.smtp.operators.smtp"),
    "TriggerDagRunOperator": (
        "airflow.operators.trigger_dagrun",
        "airflow.providers.standard.operators.trigger_dagrun",
    ),
    "FileSensor": ("airflow.sensors.filesystem", "airflow.providers.standard.sensors.filesystem"),
    "ExternalTaskSensor": ("airflow.sensors.external_task", "airflow.providers.standard.sensors.external_task"),
    "TimeDeltaSensor": ("", "airflow.providers.standard.sensors.time_delta"),
}

# Provider names: the same module in every series (the provider distribution is what differs).
_PROVIDERS: dict[str, str] = {
    "PostgresHook": "airflow.providers.postgres.hooks.postgres",
    "SnowflakeHook": "airflow.providers.snowflake.hooks.snowflake",
    "S3Hook": "airflow.providers.amazon.aws.hooks.s3",
    "S3KeySensor": "airflow.providers.amazon.aws.sensors.s3",
    "S3CreateObjectOperator": "airflow.providers.amazon.aws.operators.s3",
    "BigQueryInsertJobOperator": "airflow.providers.google.cloud.operators.bigquery",
    "SlackWebhookOperator": "airflow.providers.slack.operators.slack_webhook",
    "HttpOperator": "airflow.providers.http.operators.http",
    "HttpSensor": "airflow.providers.http.sensors.http",
    "DockerOperator": "airflow.providers.docker.operators.docker",
    "KubernetesPodOperator": "airflow.providers.cncf.kubernetes.operators.pod",
    "SFTPSensor": "airflow.providers.sftp.sensors.sftp",
    "SQLExecuteQueryOperator": "airflow.providers.common.sql.operators.sql",
}


def module_of(name: str, major: int) -> str:
    """The module to import `name` from in Airflow `major`.x; KeyError when the name does not exist there."""
    if name in _PROVIDERS:
        return _PROVIDERS[name]
    module = _CORE[name][0 if major < 3 else 1]
    if not module:
        raise KeyError(f"{name} does not exist in Airflow {major}")
    return module


def import_lines(names: Iterable[str], major: int) -> list[str]:
    """`from module import a, b` lines, Airflow's core first, then providers, each sorted."""
    by_module: dict[str, set[str]] = defaultdict(set)
    for name in names:
        by_module[module_of(name, major)].add(name)
    order = sorted(by_module, key=lambda m: (m.startswith("airflow.providers"), m))
    return [f"from {m} import {', '.join(sorted(by_module[m], key=lambda n: (n[0].islower(), n)))}" for m in order]


def asset_class(major: int) -> str:
    """What a data-aware schedule is built from: `Dataset` in Airflow 2, `Asset` in Airflow 3."""
    return "Dataset" if major < 3 else "Asset"
