"""GitSource and the miner on a real repository with Airflow-like history (see conftest.py)."""

from __future__ import annotations

import ast
import hashlib
import subprocess
from typing import TYPE_CHECKING

import pytest

import dagmine
from dagcore import is_test_internal
from dagcore import test_internal_imports as internal_imports_of
from dagmine import ExclusionReason, GitSource, MineConfig, Miner, MineResult, Ref, RefError, SourceError
from dagmine._detect import is_dag_module

from .conftest import (
    BASH_DAG,
    HELPER,
    LATIN1_DAG,
    NUL_DAG,
    P_BASH,
    P_BASH_3,
    P_HELPER,
    P_LATIN1,
    P_LINK,
    P_LOGS,
    P_MAIN_ONLY,
    P_NUL,
    P_PY2,
    P_S3,
    P_SDK,
    P_TASKFLOW,
    P_TEST,
    PY2_DAG,
    SDK_DAG,
    SYSTEM_TEST_LOGS,
    SYSTEM_TEST_S3,
    TASKFLOW_RC,
    TASKFLOW_V1,
    TASKFLOW_V2,
    TEST_MODULE,
    git_env,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import AirflowRepo, RepoBuilder

R = ExclusionReason

BASH_CLEAN = '''"""Example DAG demonstrating the usage of the BashOperator."""

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

    run_this = BashOperator(
        task_id="run_after_loop",
        bash_command="echo 1",
    )

    run_this >> run_this_last

    for i in range(3):
        task = BashOperator(
            task_id=f"runme_{i}",
            bash_command='echo "{{ task_instance_key_str }}" && sleep 1',
        )
        task >> run_this
'''

# The system test as a user would write it: no licence, markers, context builder, watcher or test run;
# the env id from the test context becomes an environment variable with a readable default.
S3_CLEAN = '''"""System test for S3 buckets."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.models.baseoperator import chain
from airflow.models.dag import DAG
from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator, S3DeleteBucketOperator
from airflow.utils.trigger_rule import TriggerRule

DAG_ID = "example_s3"

with DAG(
    dag_id=DAG_ID,
    schedule="@once",
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    env_id = os.environ.get("ENV_ID", "dev")
    bucket_name = f"{env_id}-s3-bucket"

    create_bucket = S3CreateBucketOperator(
        task_id="create_bucket",
        bucket_name=bucket_name,
    )

    delete_bucket = S3DeleteBucketOperator(
        task_id="delete_bucket",
        bucket_name=bucket_name,
        force_delete=True,
        trigger_rule=TriggerRule.ALL_DONE,
    )

    chain(
        create_bucket,
        delete_bucket,
    )
'''

RELEASES = ["2.9.0", "2.10.0", "3.0.0"]


def blob(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()


def rid(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def git_output(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=path, env=git_env(path.parent), check=True, capture_output=True, text=True
    ).stdout.strip()


def run(
    path: Path, refs: list[str] | None = None, *, tag_pattern: str | None = None, config: MineConfig | None = None
) -> MineResult:
    config = config or MineConfig(jobs=1)
    return Miner(GitSource(path), refs=refs, tag_pattern=tag_pattern, config=config).run()


@pytest.fixture(scope="module")
def mined(airflow_repo: AirflowRepo) -> MineResult:
    """The default run: every final release tag."""
    return run(airflow_repo.path)


def by_path(result: MineResult, path: str) -> list[dagmine.DagRecord]:
    return [r for r in result.records if path in r.paths]


# --- refs ---------------------------------------------------------------------------------------


def test_default_refs_are_final_release_tags_oldest_first(mined: MineResult, airflow_repo: AirflowRepo) -> None:
    # Not 2.10.0rc1, not providers-amazon/9.0.0; sorted as versions (2.10 after 2.9), not as strings.
    assert mined.refs == [Ref(name=t, airflow_version=t, revision=airflow_repo.shas[t]) for t in RELEASES]


def test_annotated_tag_is_peeled_to_its_commit(airflow_repo: AirflowRepo) -> None:
    tag_object = git_output(airflow_repo.path, "rev-parse", "3.0.0")
    assert tag_object != airflow_repo.shas["3.0.0"]  # 3.0.0 is an annotated tag
    [ref] = GitSource(airflow_repo.path).resolve(["3.0.0"])
    assert ref.revision == airflow_repo.shas["3.0.0"]


def test_tag_pattern_takes_pre_releases_when_asked(airflow_repo: AirflowRepo) -> None:
    source = GitSource(airflow_repo.path)
    refs = source.resolve(pattern=r"^2\.10\.")
    assert [(r.name, r.airflow_version) for r in refs] == [("2.10.0rc1", "2.10.0rc1"), ("2.10.0", "2.10.0")]

    result = run(airflow_repo.path, tag_pattern=r"^2\.10\.")
    taskflow = by_path(result, P_TASKFLOW)
    assert [(r.id, r.refs, r.airflow_versions) for r in taskflow] == [
        (rid(TASKFLOW_RC), ["2.10.0rc1"], ["2.10.0rc1"]),
        (rid(TASKFLOW_V2), ["2.10.0"], ["2.10.0"]),
    ]


def test_tag_pattern_for_non_version_tags(airflow_repo: AirflowRepo) -> None:
    [ref] = GitSource(airflow_repo.path).resolve(pattern=r"^providers-")
    assert ref == Ref(name="providers-amazon/9.0.0", airflow_version=None, revision=airflow_repo.shas["2.10.0rc1"])
    result = run(airflow_repo.path, tag_pattern=r"^providers-")
    [bash] = by_path(result, P_BASH)
    assert bash.airflow_versions == []
    assert bash.first_version is None and bash.last_version is None  # a ref name is not a version


def test_explicit_branch(airflow_repo: AirflowRepo) -> None:
    result = run(airflow_repo.path, ["v2-10-test"])
    assert result.refs == [Ref(name="v2-10-test", airflow_version=None, revision=airflow_repo.shas["2.10.0"])]
    assert [r.paths for r in result.records] == [[P_BASH], [P_TASKFLOW], [P_S3]]
    assert result.records[1].id == rid(TASKFLOW_V2)
    for record in result.records:
        assert (record.refs, record.airflow_versions) == (["v2-10-test"], [])
        assert record.first_version is None and record.last_version is None


def test_explicit_sha_full_and_short(airflow_repo: AirflowRepo) -> None:
    sha = airflow_repo.shas["2.9.0"]
    source = GitSource(airflow_repo.path)
    assert source.resolve([sha]) == [Ref(name=sha, airflow_version=None, revision=sha)]
    assert source.resolve([sha[:10]]) == [Ref(name=sha[:10], airflow_version=None, revision=sha)]
    result = run(airflow_repo.path, [sha[:10]])
    [taskflow] = by_path(result, P_TASKFLOW)
    assert taskflow.id == rid(TASKFLOW_V1)
    assert taskflow.refs == [sha[:10]]
    assert taskflow.first_version is None


def test_explicit_tag_and_branch(airflow_repo: AirflowRepo) -> None:
    result = run(airflow_repo.path, ["2.9.0", "main"])
    assert [r.name for r in result.refs] == ["2.9.0", "main"]
    assert result.refs[1].revision == airflow_repo.shas["main"]
    [bash] = by_path(result, P_BASH)
    assert bash.refs == ["2.9.0", "main"]
    assert bash.airflow_versions == ["2.9.0"]
    assert (bash.first_version, bash.last_version) == ("2.9.0", "2.9.0")
    assert bash.paths == [P_BASH_3, P_BASH]
    [main_only] = by_path(result, P_MAIN_ONLY)
    assert main_only.code == main_only.original_code
    assert (main_only.refs, main_only.airflow_versions, main_only.first_version) == (["main"], [], None)
    assert main_only.dag_ids == ["example_main_only"]


def test_explicit_refs_are_mined_oldest_first(airflow_repo: AirflowRepo) -> None:
    """Records list refs oldest first, so first_version is never newer than last_version."""
    refs = GitSource(airflow_repo.path).resolve(["3.0.0", "2.9.0", "3.0.0"])
    assert [r.name for r in refs] == ["2.9.0", "3.0.0"]
    [bash] = by_path(run(airflow_repo.path, ["3.0.0", "2.9.0"]), P_BASH)
    assert (bash.first_version, bash.last_version) == ("2.9.0", "3.0.0")


def test_bare_clone_gives_the_same_records(bare_repo: Path, mined: MineResult) -> None:
    assert not (bare_repo / ".git").exists()
    source = GitSource(bare_repo)
    assert source.location == str(bare_repo.resolve())
    result = run(bare_repo)
    assert [r.name for r in result.refs] == RELEASES
    assert [r.model_dump() for r in result.records] == [r.model_dump() for r in mined.records]
    assert result.exclusions == mined.exclusions
    assert result.stats == mined.stats


# --- records ------------------------------------------------------------------------------------


def test_records_in_order(mined: MineResult) -> None:
    # Sorted by the first ref they appear in, then by path.
    assert [(r.paths, r.refs) for r in mined.records] == [
        ([P_BASH_3, P_BASH], RELEASES),
        ([P_TASKFLOW], ["2.9.0"]),
        ([P_S3], RELEASES),
        ([P_TASKFLOW], ["2.10.0", "3.0.0"]),
        ([P_SDK], ["3.0.0"]),
    ]
    ids = [r.id for r in mined.records]
    assert [ids[0], ids[1], ids[3], ids[4]] == [rid(BASH_CLEAN), rid(TASKFLOW_V1), rid(TASKFLOW_V2), rid(SDK_DAG)]
    assert all(r.id == rid(r.code) for r in mined.records)


def test_unchanged_file_is_one_record_across_tags_and_paths(mined: MineResult) -> None:
    [bash] = by_path(mined, P_BASH)
    assert bash.code == BASH_CLEAN
    assert bash.id == rid(BASH_CLEAN)
    assert bash.original_code == BASH_DAG
    assert bash.cleaning == ["licence_header", "doc_markers"]
    assert bash.refs == RELEASES
    assert bash.airflow_versions == RELEASES
    assert (bash.first_version, bash.last_version) == ("2.9.0", "3.0.0")
    # Moved to airflow-core/ at 3.0.0 with the same content: still one record, with both paths.
    assert bash.paths == [P_BASH_3, P_BASH]
    assert [(o.ref, o.path, o.blob) for o in bash.occurrences] == [
        ("2.9.0", P_BASH, blob(BASH_DAG)),
        ("2.10.0", P_BASH, blob(BASH_DAG)),
        ("3.0.0", P_BASH_3, blob(BASH_DAG)),
    ]
    assert bash.dag_ids == ["example_bash_operator"]
    assert bash.task_count == 3
    assert bash.operators == ["BashOperator", "EmptyOperator"]
    assert bash.schedule == "'0 0 * * *'"
    assert bash.docstring == "Example DAG demonstrating the usage of the BashOperator."
    assert bash.imports == [
        "__future__",
        "airflow.models.dag",
        "airflow.operators.bash",
        "airflow.operators.empty",
        "datetime",
        "pendulum",
    ]


def test_changed_file_is_one_record_per_version(mined: MineResult) -> None:
    v1, v2 = by_path(mined, P_TASKFLOW)
    # No licence, no harness: the cleaned code is the file as it was.
    assert (v1.code, v1.original_code, v1.cleaning) == (TASKFLOW_V1, TASKFLOW_V1, [])
    assert (v2.code, v2.original_code, v2.cleaning) == (TASKFLOW_V2, TASKFLOW_V2, [])
    assert (v1.id, v2.id) == (rid(TASKFLOW_V1), rid(TASKFLOW_V2))
    assert (v1.refs, v1.airflow_versions, v1.first_version, v1.last_version) == (
        ["2.9.0"],
        ["2.9.0"],
        "2.9.0",
        "2.9.0",
    )
    assert (v2.refs, v2.airflow_versions, v2.first_version, v2.last_version) == (
        ["2.10.0", "3.0.0"],
        ["2.10.0", "3.0.0"],
        "2.10.0",
        "3.0.0",
    )
    assert [(o.ref, o.blob) for o in v2.occurrences] == [("2.10.0", blob(TASKFLOW_V2)), ("3.0.0", blob(TASKFLOW_V2))]
    # The called @dag function is the DAG; its name is the dag id.
    assert v1.dag_ids == v2.dag_ids == ["tutorial_taskflow_api"]
    assert (v1.task_count, v2.task_count) == (2, 3)
    assert v1.operators == v2.operators == []
    assert v1.schedule == "None"
    assert v1.docstring == "Example DAG demonstrating the usage of the TaskFlow API."
    # The release candidate's version is not mined by default.
    assert all(r.id != rid(TASKFLOW_RC) for r in mined.records)


def test_airflow_sdk_record(mined: MineResult) -> None:
    [sdk] = by_path(mined, P_SDK)
    assert (sdk.code, sdk.cleaning) == (SDK_DAG, [])
    assert (sdk.refs, sdk.airflow_versions, sdk.first_version, sdk.last_version) == (
        ["3.0.0"],
        ["3.0.0"],
        "3.0.0",
        "3.0.0",
    )
    assert sdk.dag_ids == ["example_sdk"]
    assert sdk.task_count == 2  # the BashOperator and the @task call
    assert sdk.operators == ["BashOperator"]
    assert sdk.schedule == "'@daily'"
    assert "airflow.sdk" in sdk.imports


def test_system_test_record_is_cleaned(mined: MineResult) -> None:
    [s3] = by_path(mined, P_S3)
    assert s3.original_code == SYSTEM_TEST_S3
    assert s3.code == S3_CLEAN
    assert s3.id == rid(S3_CLEAN)
    assert s3.refs == RELEASES
    assert s3.dag_ids == ["example_s3"]
    assert s3.task_count == 2
    assert s3.operators == ["S3CreateBucketOperator", "S3DeleteBucketOperator"]
    assert s3.schedule == "'@once'"
    assert s3.docstring == "System test for S3 buckets."
    assert {"licence_header", "doc_markers", "watcher", "test_run", "test_context", "test_imports"} <= set(s3.cleaning)


def test_system_test_record_defines_every_name_it_uses(mined: MineResult) -> None:
    """Removing the harness must not leave a name used but never bound (here: `env_id`)."""
    [s3] = by_path(mined, P_S3)
    tree = ast.parse(s3.code)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    bound |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert loaded - bound - {"list"} == set()


def test_clean_false_keeps_the_harness_and_so_excludes_system_tests(airflow_repo: AirflowRepo) -> None:
    result = run(airflow_repo.path, ["2.9.0"], config=MineConfig(jobs=1, clean=False))
    assert [(r.paths, r.cleaning, r.code == r.original_code) for r in result.records] == [
        ([P_BASH], [], True),
        ([P_TASKFLOW], [], True),
    ]
    assert result.records[0].code == BASH_DAG
    internals = [x for x in result.exclusions if x.reason is R.TEST_INTERNALS]
    assert [(x.paths, x.detail) for x in internals] == [
        ([P_LOGS], "tests.system.providers.amazon.aws.utils, tests.system.utils.watcher"),
        ([P_S3], "tests.system.providers.amazon.aws.utils, tests.system.utils, tests.system.utils.watcher"),
    ]


# --- exclusions and counts ----------------------------------------------------------------------


def test_exclusions(mined: MineResult) -> None:
    # The helper that never names a DAG is counted, not listed.
    assert [(x.reason, x.paths, x.blob) for x in mined.exclusions] == [
        (R.BINARY, [P_NUL], blob(NUL_DAG)),
        (R.NOT_DAG, [P_TEST], blob(TEST_MODULE)),
        (R.NOT_UTF8, [P_LATIN1], blob(LATIN1_DAG)),
        (R.SYNTAX_ERROR, [P_PY2], blob(PY2_DAG)),
        (R.TEST_INTERNALS, [P_LOGS], blob(SYSTEM_TEST_LOGS)),
    ]
    details = {x.reason: x.detail for x in mined.exclusions}
    assert details[R.BINARY] == "NUL byte in file"
    assert details[R.NOT_DAG] == "defines no DAG at import"
    assert details[R.NOT_UTF8] == f"byte {LATIN1_DAG.index(0xE9)}: invalid continuation byte"
    assert details[R.SYNTAX_ERROR].startswith("line 4: Missing parentheses in call to 'print'")
    # Cleaning removed the harness imports; the helper the task needs stays and cannot be recovered.
    assert details[R.TEST_INTERNALS] == "tests.system.providers.amazon.aws.utils"


def test_stats(mined: MineResult) -> None:
    stats = mined.stats
    assert stats.refs == 3
    assert stats.files == 27  # 9 Python files at each tag; the symlink and README are not counted
    # bash, taskflow v1 and v2, s3, logs, py2, latin1, nul, helper, test module, sdk
    assert stats.distinct_blobs == 11
    assert stats.kept_blobs == 5
    assert stats.records == 5
    assert stats.dag_files == 6  # the kept ones and the system test that needs a test helper
    assert stats.excluded == {
        R.BINARY: 1,
        R.NOT_DAG: 2,
        R.NOT_UTF8: 1,
        R.SYNTAX_ERROR: 1,
        R.TEST_INTERNALS: 1,
    }
    per_ref = {name: (s.files, s.kept, dict(s.excluded)) for name, s in stats.per_ref.items()}
    before_3 = {R.BINARY: 1, R.NOT_DAG: 2, R.NOT_UTF8: 1, R.SYNTAX_ERROR: 1, R.TEST_INTERNALS: 1}
    assert per_ref == {
        "2.9.0": (9, 3, before_3),
        "2.10.0": (9, 3, before_3),
        # legacy_py2.py is gone, example_sdk.py is new
        "3.0.0": (9, 4, {R.BINARY: 1, R.NOT_DAG: 2, R.NOT_UTF8: 1, R.TEST_INTERNALS: 1}),
    }


def test_symlinks_and_non_python_files_are_not_seen(mined: MineResult) -> None:
    paths = {e.path for entries in mined.occurrences.values() for e in entries}
    assert P_LINK not in paths
    assert "README.md" not in paths
    assert P_HELPER in paths


def test_too_large(airflow_repo: AirflowRepo) -> None:
    limit = len(SYSTEM_TEST_LOGS)  # bash and s3 are larger, everything else is not
    assert len(BASH_DAG) > limit and len(SYSTEM_TEST_S3) > limit
    result = run(airflow_repo.path, ["2.9.0"], config=MineConfig(jobs=1, max_bytes=limit))
    too_large = [x for x in result.exclusions if x.reason is R.TOO_LARGE]
    assert [(x.paths, x.detail) for x in too_large] == [
        ([P_BASH], f"{len(BASH_DAG.encode())} bytes"),
        ([P_S3], f"{len(SYSTEM_TEST_S3.encode())} bytes"),
    ]
    assert [r.paths for r in result.records] == [[P_TASKFLOW]]
    assert result.stats.per_ref["2.9.0"].excluded[R.TOO_LARGE] == 2


def test_mine_yields_the_records(airflow_repo: AirflowRepo, mined: MineResult) -> None:
    records = list(dagmine.mine(GitSource(airflow_repo.path), config=MineConfig(jobs=1)))
    assert [r.model_dump() for r in records] == [r.model_dump() for r in mined.records]


def test_invariants_over_every_tag(airflow_repo: AirflowRepo) -> None:
    result = run(airflow_repo.path, tag_pattern=".")
    assert [r.name for r in result.refs] == ["2.9.0", "2.10.0rc1", "2.10.0", "3.0.0", "providers-amazon/9.0.0"]
    order = [r.name for r in result.refs]
    ids = [r.id for r in result.records]
    assert len(ids) == len(set(ids))
    for record in result.records:
        tree = ast.parse(record.code)
        assert is_dag_module(tree)
        assert internal_imports_of(tree) == []
        assert not any(is_test_internal(m) for m in record.imports)
        assert record.id == rid(record.code)
        assert record.refs == sorted(record.refs, key=order.index)
        assert record.refs == list(dict.fromkeys(o.ref for o in record.occurrences))
        assert record.paths == sorted({o.path for o in record.occurrences})
        assert record.dag_ids
    stats = result.stats
    assert stats.files == sum(s.files for s in stats.per_ref.values())
    for name, ref_stats in stats.per_ref.items():
        assert ref_stats.files == ref_stats.kept + sum(ref_stats.excluded.values()), name
    assert stats.distinct_blobs == stats.kept_blobs + sum(stats.excluded.values())
    listed = {x.blob for x in result.exclusions}
    assert blob(HELPER) not in listed  # counted as not_dag, but too common to list


# --- errors -------------------------------------------------------------------------------------


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a git repository"):
        GitSource(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        GitSource(tmp_path / "nope")


def test_subfolder_of_a_repository_is_not_a_repository(airflow_repo: AirflowRepo) -> None:
    with pytest.raises(SourceError):
        GitSource(airflow_repo.path / "airflow")


def test_unknown_ref(airflow_repo: AirflowRepo) -> None:
    source = GitSource(airflow_repo.path)
    with pytest.raises(RefError, match="unknown ref 'no-such-branch'"):
        source.resolve(["2.9.0", "no-such-branch"])
    with pytest.raises(RefError):
        source.resolve(["--all"])  # an option is not a ref
    with pytest.raises(RefError):
        Miner(source, refs=["9.9.9"])


def test_pattern_that_matches_nothing(airflow_repo: AirflowRepo) -> None:
    with pytest.raises(RefError, match="no tag"):
        GitSource(airflow_repo.path).resolve(pattern=r"^99\.")
    with pytest.raises(RefError):
        list(dagmine.mine(GitSource(airflow_repo.path), tag_pattern="^nothing$"))


def test_repository_without_tags(make_repo: Callable[..., RepoBuilder]) -> None:
    repo = make_repo()
    repo.write("dags/a.py", 'from airflow import DAG\n\ndag = DAG("a")\n')
    repo.commit("one")
    with pytest.raises(RefError):
        GitSource(repo.path).resolve()
    [record] = dagmine.mine(GitSource(repo.path), ["main"], config=MineConfig(jobs=1))
    assert record.dag_ids == ["a"]


def test_ref_without_python_files(make_repo: Callable[..., RepoBuilder]) -> None:
    repo = make_repo()
    repo.write("README.md", "nothing\n")
    repo.commit("docs")
    repo.tag("1.0.0")
    with pytest.raises(RefError, match="no Python file"):
        run(repo.path)


# --- several blobs, one record; clean errors ------------------------------------------------------


def test_blobs_that_clean_to_the_same_program_are_one_record(make_repo: Callable[..., RepoBuilder]) -> None:
    repo = make_repo()
    body = 'from airflow import DAG\n\n{marker}\ndag = DAG("same")\n'
    old, new = body.format(marker="# [START old_name]"), body.format(marker="# [START new_name]")
    repo.write("dags/same.py", old)
    repo.commit("one")
    repo.tag("1.0.0")
    repo.write("dags/same.py", new)
    repo.commit("two")
    repo.tag("1.1.0")
    result = run(repo.path)
    [record] = result.records
    assert record.code == 'from airflow import DAG\n\ndag = DAG("same")\n'
    assert record.id == rid(record.code)
    assert record.original_code == new  # the latest ref's version
    assert record.cleaning == ["doc_markers"]
    assert [(o.ref, o.blob) for o in record.occurrences] == [("1.0.0", blob(old)), ("1.1.0", blob(new))]
    assert (record.refs, record.first_version, record.last_version) == (["1.0.0", "1.1.0"], "1.0.0", "1.1.0")
    assert (result.stats.kept_blobs, result.stats.records, result.stats.dag_files) == (2, 1, 2)


def test_clean_error_is_listed_and_counted_as_a_dag_file(make_repo: Callable[..., RepoBuilder]) -> None:
    repo = make_repo()
    # The only DAG call refers to the harness, so the statement goes and no DAG is left.
    repo.write(
        "dags/entangled.py",
        "from airflow import DAG\n"
        "from tests.system.utils.watcher import watcher\n"
        "\n"
        'dag = DAG("x", tags=[watcher().task_id])\n',
    )
    repo.write("dags/fine.py", 'from airflow import DAG\n\ndag = DAG("fine")\n')
    repo.commit("one")
    repo.tag("1.0.0")
    result = run(repo.path)
    assert [r.dag_ids for r in result.records] == [["fine"]]
    assert [(x.reason, x.paths, x.detail) for x in result.exclusions] == [
        (R.CLEAN_ERROR, ["dags/entangled.py"], "no DAG left after cleaning")
    ]
    assert result.stats.excluded == {R.CLEAN_ERROR: 1}
    assert result.stats.per_ref["1.0.0"].excluded == {R.CLEAN_ERROR: 1}
    # Both files define a DAG when run: the stat counts DAG files before the cleaner had its say.
    assert result.stats.dag_files == 2
