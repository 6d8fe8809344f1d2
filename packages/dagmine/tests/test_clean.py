"""dagmine._clean.clean on small inline programs: what goes, what stays, and that the result is a program."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import pytest

from dagmine import ExclusionReason, FolderSource, MineConfig, Miner
from dagmine._clean import clean, clean_parsed
from dagmine._comments import strip_comments

from .conftest import LICENCE

if TYPE_CHECKING:
    from pathlib import Path

# --- licence header and doc markers ---------------------------------------------------------------


def test_licence_header_is_stripped() -> None:
    source = LICENCE + '"""Docs."""\n\nfrom airflow import DAG\n\ndag = DAG("a")\n'
    result = clean(source)
    assert result.code == '"""Docs."""\n\nfrom airflow import DAG\n\ndag = DAG("a")\n'
    assert result.steps == ["licence_header"]


def test_licence_header_after_shebang_and_coding_line() -> None:
    source = (
        "#!/usr/bin/env python\n"
        "# -*- coding: utf-8 -*-\n"
        "#\n"
        "# Licensed to the Apache Software Foundation (ASF) under one\n"
        "# or more contributor license agreements.\n"
        "#\n"
        "# Unless required by applicable law or agreed to in writing.\n"
        "\n"
        "from airflow import DAG\n"
        "\n"
        'dag = DAG("s")\n'
    )
    result = clean(source)
    assert result.code == '#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nfrom airflow import DAG\n\ndag = DAG("s")\n'
    assert result.steps == ["licence_header"]


def test_other_header_comments_stay() -> None:
    source = '# My team\'s DAG, do not edit.\nfrom airflow import DAG\n\ndag = DAG("a")\n'
    result = clean(source)
    assert (result.code, result.steps) == (source, [])


def test_doc_markers_are_stripped() -> None:
    source = """from airflow import DAG
from airflow.operators.bash import BashOperator

# [START howto_dag]
with DAG("markers") as dag:
    # [START howto_operator_bash]
    run = BashOperator(task_id="run", bash_command="echo 1")  # [END howto_operator_bash]
    # a normal comment stays
    other = BashOperator(task_id="other", bash_command="echo 2")
# [END howto_dag]
"""
    result = clean(source)
    assert (
        result.code
        == """from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("markers") as dag:
    run = BashOperator(task_id="run", bash_command="echo 1")
    # a normal comment stays
    other = BashOperator(task_id="other", bash_command="echo 2")
"""
    )
    assert result.steps == ["doc_markers"]


def test_plain_dag_is_unchanged() -> None:
    source = '''"""A DAG."""

import os  # unused here, and it stays

from airflow import DAG

# TEST BODY: not a system test, so this comment is just a comment
with DAG("plain") as dag:
    pass
'''
    result = clean(source)
    assert (result.code, result.steps) == (source, [])


# --- watcher and get_test_run -------------------------------------------------------------------

WATCHER_SOURCE = '''"""Example with a watcher."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from airflow.utils.trigger_rule import TriggerRule

from tests.system.utils.watcher import watcher

with DAG("example_python", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    dump = PythonOperator(task_id="dump", python_callable=lambda: json.dumps({}))
    teardown = PythonOperator(task_id="teardown", python_callable=print, trigger_rule=TriggerRule.ALL_DONE)
    dump >> teardown

    # This test needs watcher in order to properly mark success/failure
    list(dag.tasks) >> watcher()


from tests.system.utils import get_test_run  # noqa: E402

# Needed to run the example DAG with pytest (see: tests/system/README.md#run_via_pytest)
test_run = get_test_run(dag)
'''


def test_watcher_and_test_run_are_removed_with_their_imports() -> None:
    result = clean(WATCHER_SOURCE)
    # `json` and `TriggerRule` are used by the DAG and stay; `sys` was unused already and stays too.
    assert (
        result.code
        == '''"""Example with a watcher."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from airflow.utils.trigger_rule import TriggerRule

with DAG("example_python", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    dump = PythonOperator(task_id="dump", python_callable=lambda: json.dumps({}))
    teardown = PythonOperator(task_id="teardown", python_callable=print, trigger_rule=TriggerRule.ALL_DONE)
    dump >> teardown
'''
    )
    assert result.steps == ["test_imports", "test_run", "watcher"]


def test_watcher_imported_inside_the_dag_block() -> None:
    source = """from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("w") as dag:
    EmptyOperator(task_id="a")

    from tests.system.utils.watcher import watcher

    list(dag.tasks) >> watcher()
"""
    result = clean(source)
    assert (
        result.code
        == """from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("w") as dag:
    EmptyOperator(task_id="a")
"""
    )


# --- SystemTestContextBuilder -------------------------------------------------------------------

CONTEXT_SOURCE = '''"""Example with a test context."""

from __future__ import annotations

from datetime import datetime

from airflow.models.baseoperator import chain
from airflow.models.dag import DAG
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator, S3DeleteBucketOperator

from tests.system.providers.amazon.aws.utils import ENV_ID_KEY, SystemTestContextBuilder

ROLE_ARN_KEY = "ROLE_ARN"
sys_test_context_task = SystemTestContextBuilder().add_variable(ROLE_ARN_KEY).build()

with DAG("example_context", start_date=datetime(2024, 1, 1), schedule="@once") as dag:
    test_context = sys_test_context_task()
    env_id = test_context[ENV_ID_KEY]
    role_arn = test_context[ROLE_ARN_KEY]

    create_bucket = S3CreateBucketOperator(task_id="create_bucket", bucket_name=f"{env_id}-bucket")
    delete_bucket = S3DeleteBucketOperator(task_id="delete_bucket", bucket_name=f"{env_id}-b", aws_conn_id=role_arn)

    chain(
        # TEST SETUP
        test_context,
        # TEST BODY
        create_bucket,
        # TEST TEARDOWN
        delete_bucket,
    )
'''


def test_test_context_becomes_environment_variables() -> None:
    result = clean(CONTEXT_SOURCE)
    assert (
        result.code
        == '''"""Example with a test context."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.models.baseoperator import chain
from airflow.models.dag import DAG
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator, S3DeleteBucketOperator

with DAG("example_context", start_date=datetime(2024, 1, 1), schedule="@once") as dag:
    env_id = os.environ.get("ENV_ID", "dev")
    role_arn = os.environ.get("ROLE_ARN", "arn:aws:iam::123456789012:role/airflow")

    create_bucket = S3CreateBucketOperator(task_id="create_bucket", bucket_name=f"{env_id}-bucket")
    delete_bucket = S3DeleteBucketOperator(task_id="delete_bucket", bucket_name=f"{env_id}-b", aws_conn_id=role_arn)

    chain(
        create_bucket,
        delete_bucket,
    )
'''
    )
    assert {"test_context", "test_imports", "test_comments"} <= set(result.steps)


def test_test_context_used_directly_as_an_argument() -> None:
    source = """import os

from airflow import DAG
from airflow.operators.bash import BashOperator

from tests.system.providers.amazon.aws.utils import ENV_ID_KEY, SystemTestContextBuilder

sys_test_context_task = SystemTestContextBuilder().build()

with DAG("direct") as dag:
    test_context = sys_test_context_task()
    say = BashOperator(task_id="say", bash_command="echo", env={"ENV": test_context[ENV_ID_KEY]})
    test_context >> say
"""
    result = clean(source)
    # `os` was imported already: not imported twice.
    assert (
        result.code
        == """import os

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("direct") as dag:
    say = BashOperator(task_id="say", bash_command="echo", env={"ENV": os.environ.get("ENV_ID", "dev")})
"""
    )


def test_test_context_leaves_chains_and_chain_calls() -> None:
    source = """from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.empty import EmptyOperator

from tests.system.providers.amazon.aws.utils import SystemTestContextBuilder

sys_test_context_task = SystemTestContextBuilder().build()

with DAG("chained") as dag:
    test_context = sys_test_context_task()
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    chain(test_context, a, b)
    test_context >> a >> b
    a >> b >> test_context
    a >> [test_context, b]
"""
    result = clean(source)
    # Nothing read the context, so nothing needs `os`; `chain` is still used and stays.
    assert (
        result.code
        == """from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.empty import EmptyOperator

with DAG("chained") as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    chain(a, b)
    a >> b
    a >> b
    a >> [b]
"""
    )


def test_test_context_as_last_chain_argument() -> None:
    source = """from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.empty import EmptyOperator

from tests.system.providers.amazon.aws.utils import SystemTestContextBuilder

sys_test_context_task = SystemTestContextBuilder().build()

with DAG("last") as dag:
    test_context = sys_test_context_task()
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    chain(a, b, test_context)
"""
    result = clean(source)
    assert "    chain(a, b)\n" in result.code
    ast.parse(result.code)


# --- test constants and environment ids -----------------------------------------------------------

GCP_SOURCE = """from __future__ import annotations

import os
from datetime import datetime

from airflow.models.dag import DAG
from airflow.providers.google.cloud.operators.gcs import GCSCreateBucketOperator

from providers.tests.system.google import DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID

ENV_ID = os.environ.get("SYSTEM_TESTS_ENV_ID")
PROJECT_ID = os.environ.get("SYSTEM_TESTS_GCP_PROJECT") or DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID
OTHER_PROJECT = DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID
DAG_ID = "gcs_upload"
BUCKET_NAME = f"bucket_{DAG_ID}_{ENV_ID}"

with DAG(DAG_ID, schedule="@once", start_date=datetime(2021, 1, 1)) as dag:
    create_bucket = GCSCreateBucketOperator(task_id="create_bucket", bucket_name=BUCKET_NAME, project_id=PROJECT_ID)
    create_other = GCSCreateBucketOperator(task_id="create_other", bucket_name=BUCKET_NAME, project_id=OTHER_PROJECT)
"""


def test_test_constants_and_env_id_are_recovered() -> None:
    result = clean(GCP_SOURCE)
    assert (
        result.code
        == """from __future__ import annotations

import os
from datetime import datetime

from airflow.models.dag import DAG
from airflow.providers.google.cloud.operators.gcs import GCSCreateBucketOperator

ENV_ID = os.environ.get("ENV_ID", "dev")
PROJECT_ID = os.environ.get("GCP_PROJECT", "my-project")
OTHER_PROJECT = os.environ.get("GCP_PROJECT_ID", "my-project")
DAG_ID = "gcs_upload"
BUCKET_NAME = f"bucket_{DAG_ID}_{ENV_ID}"

with DAG(DAG_ID, schedule="@once", start_date=datetime(2021, 1, 1)) as dag:
    create_bucket = GCSCreateBucketOperator(task_id="create_bucket", bucket_name=BUCKET_NAME, project_id=PROJECT_ID)
    create_other = GCSCreateBucketOperator(task_id="create_other", bucket_name=BUCKET_NAME, project_id=OTHER_PROJECT)
"""
    )
    assert result.steps == ["env_id", "test_constants", "test_imports"]


def test_without_recover_test_constants_stay() -> None:
    result = clean(GCP_SOURCE, recover=False)
    assert "from providers.tests.system.google import DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID\n" in result.code
    assert 'os.environ.get("SYSTEM_TESTS_ENV_ID")' in result.code
    assert result.steps == []


def test_env_id_lookups_are_renamed_with_a_default() -> None:
    source = """import os

from airflow import DAG

ENV_ID = os.environ.get("SYSTEM_TESTS_ENV_ID")
OTHER = os.getenv("SYSTEM_TESTS_ENV_ID", "abc")
HOME = os.environ.get("HOME")
dag = DAG(f"d_{ENV_ID}_{OTHER}_{HOME}")
"""
    result = clean(source)
    assert (
        result.code
        == """import os

from airflow import DAG

ENV_ID = os.environ.get("ENV_ID", "dev")
OTHER = os.getenv("ENV_ID", "abc")
HOME = os.environ.get("HOME")
dag = DAG(f"d_{ENV_ID}_{OTHER}_{HOME}")
"""
    )
    assert result.steps == ["env_id"]


def test_get_test_env_id_and_import_os_after_the_docstring() -> None:
    source = '''"""Docs."""
from airflow import DAG

from tests_common.test_utils.system_tests import get_test_env_id, get_test_run

ENV_ID = get_test_env_id()
dag = DAG(f"d_{ENV_ID}")
test_run = get_test_run(dag)
'''
    result = clean(source)
    assert (
        result.code
        == '''"""Docs."""
import os
from airflow import DAG

ENV_ID = os.environ.get("ENV_ID", "dev")
dag = DAG(f"d_{ENV_ID}")
'''
    )


def test_import_used_by_the_dag_is_kept_even_if_the_harness_used_it_too() -> None:
    source = """from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

from tests.system.utils import get_test_run

START = datetime(2024, 1, 1)

with DAG("k", start_date=START) as dag:
    EmptyOperator(task_id="a")

test_run = get_test_run(dag, start=datetime(2024, 1, 1))
"""
    result = clean(source)
    assert "from datetime import datetime\n" in result.code
    assert "START = datetime(2024, 1, 1)\n" in result.code
    assert "get_test_run" not in result.code


def test_recovered_values_inside_f_strings_keep_the_program_valid() -> None:
    """Python 3.11 cannot nest the f-string's own quotes: the replacement must use the other quote."""
    constant = """from airflow import DAG
from airflow.operators.bash import BashOperator

from providers.tests.system.google import DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID

with DAG("f") as dag:
    BashOperator(task_id="t", bash_command=f"echo {DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID}")
"""
    env = """import os

from airflow import DAG

dag = DAG(f"d_{os.environ.get('SYSTEM_TESTS_ENV_ID')}")
"""
    for source in (constant, env):
        result = clean(source)
        tree = ast.parse(result.code)
        assert "DEFAULT_GCP" not in result.code
        assert "SYSTEM_TESTS_ENV_ID" not in result.code
        assert any(isinstance(n, ast.JoinedStr) for n in ast.walk(tree))


def test_a_file_the_cleaner_breaks_does_not_stop_the_run(tmp_path: Path) -> None:
    """Whatever clean() does with one file, the run goes on: the file is kept or excluded as clean_error."""
    (tmp_path / "broken.py").write_text(
        """from airflow import DAG
from airflow.operators.bash import BashOperator

from providers.tests.system.google import DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID

with DAG("f") as dag:
    BashOperator(task_id="t", bash_command=f"echo {DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID}")
"""
    )
    (tmp_path / "fine.py").write_text('from airflow import DAG\n\ndag = DAG("fine")\n')
    result = Miner(FolderSource(tmp_path), config=MineConfig(jobs=1)).run()
    assert "fine" in [d for r in result.records for d in r.dag_ids]
    assert result.stats.kept_blobs + result.stats.excluded.get(ExclusionReason.CLEAN_ERROR, 0) == 2


# --- properties over every case -------------------------------------------------------------------

CASES = {
    "watcher": WATCHER_SOURCE,
    "context": CONTEXT_SOURCE,
    "gcp": GCP_SOURCE,
    "licence": LICENCE + 'from airflow import DAG\n\ndag = DAG("a")\n',
    "test_only_import": 'from airflow import DAG\nfrom tests.system.utils import get_test_run\n\ndag = DAG("a")\n',
    "if_block": """from airflow import DAG
from tests.system.utils import get_test_run

dag = DAG("a")
if True:
    test_run = get_test_run(dag)
""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_result_parses_and_cleaning_is_idempotent(name: str) -> None:
    once = clean(CASES[name])
    ast.parse(once.code)
    twice = clean(once.code)
    assert twice.code == once.code
    assert twice.steps == []


def test_emptied_block_gets_a_pass() -> None:
    result = clean(CASES["if_block"])
    assert result.code == 'from airflow import DAG\n\ndag = DAG("a")\nif True:\n    pass\n'


PLAIN_CASES = {
    "licence_and_markers": LICENCE
    + '''"""Docstring."""

from airflow import DAG

# [START howto_dag]
with DAG(dag_id="x") as dag:
    # [START howto_task]
    t = 1
    # [END howto_task]


    # [END howto_dag]


x = 2
''',
    "marker_inside_a_string_stays": '''from airflow import DAG

DOC = """
# [START not_a_comment]
"""
with DAG(dag_id="x", doc_md=DOC) as dag:
    pass
# [END trailing]
''',
    "marker_in_brackets": """from airflow import DAG

with DAG(
    dag_id="x",
    # [START kwargs]
    schedule=None,
    # [END kwargs]
) as dag:
    pass
""",
    "no_licence_no_marker": 'from airflow import DAG\n\ndag = DAG("x")\n',
}


@pytest.mark.parametrize("name", sorted(PLAIN_CASES))
def test_comment_only_fast_path_matches_libcst(name: str) -> None:
    """Files without harness skip libcst; the text must be exactly what the libcst walk gives."""

    code = PLAIN_CASES[name]
    tree = ast.parse(code)
    fast, fast_tree = clean_parsed(code, tree)
    slow, _ = clean_parsed(code, tree, fast_path=False)
    assert fast == slow
    assert fast_tree is tree  # comments only: the program is unchanged
    assert "[START" not in fast.code.replace("# [START not_a_comment]", "")


def test_marker_after_code_falls_back_to_libcst() -> None:

    code = 'from airflow import DAG\n\ndag = DAG("x")  # [END howto]\n'
    assert strip_comments(code, ast.parse(code)) is None
    assert clean(code).code == 'from airflow import DAG\n\ndag = DAG("x")\n'
