"""Fixtures: real git repositories (built with the git CLI), with Airflow-like history across tags.

The main fixture, `airflow_repo`, is built once per session and must not be changed by tests; tests
that change a repository build their own with `make_repo`.

History of `airflow_repo` (dates fixed, so commit shas are the same on every run):

    c1  tag 2.9.0       every kind of file (kept and excluded), a symlink, a README
    c2  tag 2.10.0rc1   example_taskflow.py changed (a pre-release, not a final release tag)
        tag providers-amazon/9.0.0
    c3  tag 2.10.0      example_taskflow.py changed again; branch v2-10-test points here
    c4  tag 3.0.0       (annotated) example_bash_operator.py moved unchanged to airflow-core/, legacy_py2.py
                        and the symlink deleted, example_sdk.py (airflow.sdk) added
    c5  main (HEAD)     example_main_only.py added, no tag
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

LICENCE = """\
#
# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""

# A classic `with DAG(...)` DAG with a licence header and doc markers; the same blob at every tag.
BASH_DAG = (
    LICENCE
    + '''"""Example DAG demonstrating the usage of the BashOperator."""

from __future__ import annotations

import datetime

import pendulum

from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="example_bash_operator",
    schedule="0 0 * * *",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    dagrun_timeout=datetime.timedelta(minutes=60),
    tags=["example", "example2"],
) as dag:
    run_this_last = EmptyOperator(
        task_id="run_this_last",
    )

    # [START howto_operator_bash]
    run_this = BashOperator(
        task_id="run_after_loop",
        bash_command="echo 1",
    )
    # [END howto_operator_bash]

    run_this >> run_this_last

    for i in range(3):
        task = BashOperator(
            task_id=f"runme_{i}",
            bash_command='echo "{{ task_instance_key_str }}" && sleep 1',
        )
        task >> run_this
'''
)


def _taskflow(extra_task: str, extra_call: str) -> str:
    return f'''"""Example DAG demonstrating the usage of the TaskFlow API."""

from __future__ import annotations

import pendulum

from airflow.decorators import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
)
def tutorial_taskflow_api():
    @task()
    def extract():
        return {{"1001": 301.27, "1002": 433.21}}

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        return {{"total_order_value": sum(order_data_dict.values())}}
{extra_task}
    order_data = extract()
    {extra_call}


tutorial_taskflow_api()
'''


# A TaskFlow `@dag` DAG, called at module level; it changes between tags.
TASKFLOW_V1 = _taskflow("", "transform(order_data)")
TASKFLOW_RC = _taskflow(
    """
    @task()
    def load(total: float):
        print(total)
""",
    "load(transform(order_data))",
)
TASKFLOW_V2 = _taskflow(
    """
    @task()
    def load(total_order_value: float):
        print(f"Total order value is: {total_order_value:.2f}")
""",
    'load(transform(order_data)["total_order_value"])',
)

# An Airflow 3 DAG written with the task SDK.
SDK_DAG = '''"""An Airflow 3 DAG written with the task SDK."""

from __future__ import annotations

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

with DAG(
    dag_id="example_sdk",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
) as dag:

    @task
    def hello() -> str:
        return "hello"

    say = BashOperator(task_id="say", bash_command="echo hi")
    hello() >> say
'''

MAIN_ONLY_DAG = """from airflow.sdk import DAG

with DAG("example_main_only", schedule=None) as dag:
    pass
"""

# A system test with the full harness: licence, doc markers, SystemTestContextBuilder, watcher, get_test_run.
SYSTEM_TEST_S3 = (
    LICENCE
    + '''"""System test for S3 buckets."""

from __future__ import annotations

from datetime import datetime

from airflow.models.baseoperator import chain
from airflow.models.dag import DAG
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator, S3DeleteBucketOperator
from airflow.utils.trigger_rule import TriggerRule

from tests.system.providers.amazon.aws.utils import ENV_ID_KEY, SystemTestContextBuilder

DAG_ID = "example_s3"

sys_test_context_task = SystemTestContextBuilder().build()

with DAG(
    dag_id=DAG_ID,
    schedule="@once",
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    test_context = sys_test_context_task()
    env_id = test_context[ENV_ID_KEY]
    bucket_name = f"{env_id}-s3-bucket"

    # [START howto_operator_s3_create_bucket]
    create_bucket = S3CreateBucketOperator(
        task_id="create_bucket",
        bucket_name=bucket_name,
    )
    # [END howto_operator_s3_create_bucket]

    delete_bucket = S3DeleteBucketOperator(
        task_id="delete_bucket",
        bucket_name=bucket_name,
        force_delete=True,
        trigger_rule=TriggerRule.ALL_DONE,
    )

    chain(
        # TEST SETUP
        test_context,
        # TEST BODY
        create_bucket,
        # TEST TEARDOWN
        delete_bucket,
    )

    from tests.system.utils.watcher import watcher

    # This test needs watcher in order to properly mark success/failure
    # when "tearDown" task with trigger rule is part of the DAG
    list(dag.tasks) >> watcher()


from tests.system.utils import get_test_run  # noqa: E402

# Needed to run the example DAG with pytest (see: tests/system/README.md#run_via_pytest)
test_run = get_test_run(dag)
'''
)

# A system test whose task calls a test helper that no user can import: excluded as test_internals.
SYSTEM_TEST_LOGS = """from __future__ import annotations

from datetime import datetime

from airflow.decorators import task
from airflow.models.dag import DAG

from tests.system.providers.amazon.aws.utils import ENV_ID_KEY, SystemTestContextBuilder, prune_logs

sys_test_context_task = SystemTestContextBuilder().build()

with DAG("example_logs", schedule="@once", start_date=datetime(2021, 1, 1)) as dag:
    test_context = sys_test_context_task()

    @task
    def delete_logs(log_group: str):
        prune_logs([(log_group, None)])

    delete_logs("/aws/batch/job")

    from tests.system.utils.watcher import watcher

    list(dag.tasks) >> watcher()
"""

PY2_DAG = """from airflow import DAG

dag = DAG("legacy_py2")
print "hello"
"""

LATIN1_DAG = 'from airflow import DAG\n\ndag = DAG("caf\xe9")\n'.encode("latin-1")

NUL_DAG = b'from airflow import DAG\n\ndag = DAG("nul")\x00\n'

# Python that never names a DAG: dropped by the byte prefilter.
HELPER = '''"""Helpers."""


def chunks(items, size):
    return [items[i : i + size] for i in range(0, len(items), size)]
'''

# A test module: builds DAGs, but only inside test functions.
TEST_MODULE = """from airflow.models.dag import DAG


def test_dag_id():
    dag = DAG("test_dag")
    assert dag.dag_id == "test_dag"


class TestDag:
    def test_tags(self):
        dag = DAG("tagged", tags=["x"])
        assert dag.tags == ["x"]
"""

P_BASH = "airflow/example_dags/example_bash_operator.py"
P_BASH_3 = "airflow-core/src/airflow/example_dags/example_bash_operator.py"
P_LINK = "airflow/example_dags/example_link.py"
P_TASKFLOW = "airflow/example_dags/example_taskflow.py"
P_SDK = "airflow-core/src/airflow/example_dags/example_sdk.py"
P_MAIN_ONLY = "airflow-core/src/airflow/example_dags/example_main_only.py"
P_S3 = "tests/system/providers/amazon/aws/example_s3.py"
P_LOGS = "tests/system/providers/amazon/aws/example_logs.py"
P_PY2 = "airflow/example_dags/legacy_py2.py"
P_LATIN1 = "airflow/example_dags/example_latin1.py"
P_NUL = "airflow/example_dags/example_nul.py"
P_HELPER = "airflow/utils/helpers.py"
P_TEST = "tests/models/test_dag.py"


def git_env(base: Path) -> dict[str, str]:
    """An environment for git that ignores the user's and the system's config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        HOME=str(base),
        GIT_AUTHOR_NAME="Dag Miner",
        GIT_AUTHOR_EMAIL="dagmine@example.com",
        GIT_COMMITTER_NAME="Dag Miner",
        GIT_COMMITTER_EMAIL="dagmine@example.com",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


class RepoBuilder:
    """A git repository under construction, driven through the git CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = git_env(path.parent)
        self._day = 0
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["git", "-c", "init.defaultBranch=main", "-c", "core.symlinks=true", *args],
            cwd=self.path,
            env=env or self.env,
            check=True,
            capture_output=True,
        )
        return done.stdout.decode().strip()

    def write(self, rel: str, content: str | bytes) -> None:
        file = self.path / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content.encode() if isinstance(content, str) else content)

    def symlink(self, rel: str, target: str) -> None:
        (self.path / rel).symlink_to(target)

    def move(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def remove(self, rel: str) -> None:
        self.git("rm", "-q", rel)

    def commit(self, message: str) -> str:
        """Commit everything; each commit is one day after the previous one, at a fixed time."""
        self._day += 1
        date = f"2024-01-{self._day:02d}T12:00:00+00:00"
        env = {**self.env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        self.git("add", "-A", env=env)
        self.git("commit", "-q", "-m", message, env=env)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, annotated: bool = False) -> None:
        if annotated:
            date = f"2024-01-{self._day:02d}T13:00:00+00:00"
            self.git("tag", "-a", name, "-m", f"Release {name}", env={**self.env, "GIT_COMMITTER_DATE": date})
        else:
            self.git("tag", name)

    def branch(self, name: str, at: str) -> None:
        self.git("branch", name, at)


@dataclass
class AirflowRepo:
    """The session's Airflow-like repository and what is in it."""

    path: Path
    shas: dict[str, str] = field(default_factory=dict)
    """Commit sha of each tag, of `main` and of `v2-10-test`."""


@pytest.fixture(scope="session")
def airflow_repo(tmp_path_factory: pytest.TempPathFactory) -> AirflowRepo:
    repo = RepoBuilder(tmp_path_factory.mktemp("airflow") / "airflow")
    shas: dict[str, str] = {}

    repo.write("README.md", "# Apache Airflow\n")
    repo.write(P_BASH, BASH_DAG)
    repo.symlink(P_LINK, "example_bash_operator.py")
    repo.write(P_TASKFLOW, TASKFLOW_V1)
    repo.write(P_S3, SYSTEM_TEST_S3)
    repo.write(P_LOGS, SYSTEM_TEST_LOGS)
    repo.write(P_PY2, PY2_DAG)
    repo.write(P_LATIN1, LATIN1_DAG)
    repo.write(P_NUL, NUL_DAG)
    repo.write(P_HELPER, HELPER)
    repo.write(P_TEST, TEST_MODULE)
    shas["2.9.0"] = repo.commit("Airflow 2.9.0")
    repo.tag("2.9.0")

    repo.write(P_TASKFLOW, TASKFLOW_RC)
    shas["2.10.0rc1"] = repo.commit("Airflow 2.10.0rc1")
    repo.tag("2.10.0rc1")
    repo.tag("providers-amazon/9.0.0")

    repo.write(P_TASKFLOW, TASKFLOW_V2)
    shas["2.10.0"] = repo.commit("Airflow 2.10.0")
    repo.tag("2.10.0")
    repo.branch("v2-10-test", "HEAD")
    shas["v2-10-test"] = shas["2.10.0"]

    repo.remove(P_LINK)
    repo.move(P_BASH, P_BASH_3)
    repo.remove(P_PY2)
    repo.write(P_SDK, SDK_DAG)
    shas["3.0.0"] = repo.commit("Airflow 3.0.0")
    repo.tag("3.0.0", annotated=True)

    repo.write(P_MAIN_ONLY, MAIN_ONLY_DAG)
    shas["main"] = repo.commit("Work on main")
    return AirflowRepo(path=repo.path, shas=shas)


@pytest.fixture(scope="session")
def bare_repo(airflow_repo: AirflowRepo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare clone of `airflow_repo`: every tag and branch, no working tree."""
    path = tmp_path_factory.mktemp("bare") / "airflow.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(airflow_repo.path), str(path)],
        env=git_env(path.parent),
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[Callable[..., RepoBuilder]]:
    """A factory of empty repositories under this test's tmp_path, for tests that change history."""

    def make(name: str = "repo") -> RepoBuilder:
        return RepoBuilder(tmp_path / name)

    yield make
