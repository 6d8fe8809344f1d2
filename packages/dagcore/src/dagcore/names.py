"""Where each Airflow name lives, per major version: the one fact that most often makes a generated DAG fail to load.

Airflow 3 moved the authoring API to `airflow.sdk` and the core operators and sensors to the `standard`
provider; provider operators keep their paths. dagsynth renders composed files from this table (each file
is loaded in a real Airflow of its version before it is kept, so a wrong entry drops files instead of
teaching them), and `fix_imports` moves a generated file's imports to where its target version has them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

# name -> (module in Airflow 2.x, module in Airflow 3.x); "" where the name does not exist in that major.
CORE: dict[str, tuple[str, str]] = {
    "DAG": ("airflow", "airflow.sdk"),
    "dag": ("airflow.decorators", "airflow.sdk"),
    "task": ("airflow.decorators", "airflow.sdk"),
    "task_group": ("airflow.decorators", "airflow.sdk"),
    "TaskGroup": ("airflow.utils.task_group", "airflow.sdk"),
    "Param": ("airflow.models.param", "airflow.sdk"),
    "Variable": ("airflow.models", "airflow.sdk"),
    "BaseOperator": ("airflow.models.baseoperator", "airflow.sdk"),
    "chain": ("airflow.models.baseoperator", "airflow.sdk"),
    "cross_downstream": ("airflow.models.baseoperator", "airflow.sdk"),
    "Label": ("airflow.utils.edgemodifier", "airflow.sdk"),
    "get_current_context": ("airflow.operators.python", "airflow.sdk"),
    "BaseSensorOperator": ("airflow.sensors.base", "airflow.sdk"),
    "PokeReturnValue": ("airflow.sensors.base", "airflow.sdk"),
    "BaseHook": ("airflow.hooks.base", "airflow.sdk"),
    "Dataset": ("airflow.datasets", ""),
    "Asset": ("", "airflow.sdk"),
    "BashOperator": ("airflow.operators.bash", "airflow.providers.standard.operators.bash"),
    "PythonOperator": ("airflow.operators.python", "airflow.providers.standard.operators.python"),
    "BranchPythonOperator": ("airflow.operators.python", "airflow.providers.standard.operators.python"),
    "ShortCircuitOperator": ("airflow.operators.python", "airflow.providers.standard.operators.python"),
    "PythonVirtualenvOperator": ("airflow.operators.python", "airflow.providers.standard.operators.python"),
    "EmptyOperator": ("airflow.operators.empty", "airflow.providers.standard.operators.empty"),
    "EmailOperator": ("airflow.operators.email", "airflow.providers.smtp.operators.smtp"),
    "TriggerDagRunOperator": (
        "airflow.operators.trigger_dagrun",
        "airflow.providers.standard.operators.trigger_dagrun",
    ),
    "FileSensor": ("airflow.sensors.filesystem", "airflow.providers.standard.sensors.filesystem"),
    "ExternalTaskSensor": ("airflow.sensors.external_task", "airflow.providers.standard.sensors.external_task"),
    "TimeDeltaSensor": ("airflow.sensors.time_delta", "airflow.providers.standard.sensors.time_delta"),
}

# The data-aware schedule's class: renamed, not only moved, between the majors.
ASSET_CLASS: dict[int, str] = {2: "Dataset", 3: "Asset"}

# Provider names: the same module in every major (the provider distribution is what differs).
PROVIDERS: dict[str, str] = {
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


def known_modules() -> list[str]:
    """Every Airflow module this table names, in either major: the modules DAG files import most."""
    found = {module for pair in CORE.values() for module in pair if module} | set(PROVIDERS.values())
    return sorted(found)


def module_of(name: str, major: int) -> str:
    """The module to import `name` from in Airflow `major`.x; KeyError when the table does not have it there."""
    if name in PROVIDERS:
        return PROVIDERS[name]
    module = CORE[name][0 if major < 3 else 1]
    if not module:
        raise KeyError(f"{name} does not exist in Airflow {major}")
    return module


def asset_class(major: int) -> str:
    """What a data-aware schedule is built from: `Dataset` in Airflow 2, `Asset` in Airflow 3."""
    return ASSET_CLASS[2 if major < 3 else 3]


def import_lines(names: Iterable[str], major: int) -> list[str]:
    """`from module import a, b` lines for Airflow `major`.x, Airflow's core first, then providers, each sorted."""
    by_module: dict[str, set[str]] = defaultdict(set)
    for name in names:
        by_module[module_of(name, major)].add(name)
    order = sorted(by_module, key=lambda m: (m.startswith("airflow.providers"), m))
    return [f"from {m} import {', '.join(sorted(by_module[m], key=lambda n: (n[0].islower(), n)))}" for m in order]


# What the prompt contract shows a model for its target major: the names nearly every DAG imports. A small model
# copies a line it can see far more reliably than it recalls which major has which module (measured: the
# 2026-12-05 laptop model gave a 2.x and a 3.x answer the same likelihood whatever version the request named).
NOTED = ("DAG", "dag", "task", "task_group", "BashOperator", "PythonOperator", "EmptyOperator")


def import_notes(major: int, also: Iterable[str] = ()) -> str:
    """The import lines of the names most DAGs use, as Airflow `major`.x has them (with its data-aware class), and of
    the names `also` gives, sorted in among them."""
    return "\n".join(import_lines([*NOTED, asset_class(major), *also], major))
