"""DistributionSource on real wheel and sdist files built here, and FolderSource on real folders."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from typing import TYPE_CHECKING

import pytest

import dagmine
from dagmine import (
    DistributionSource,
    ExclusionReason,
    FolderSource,
    MineConfig,
    Miner,
    MineResult,
    Ref,
    RefError,
    SourceError,
)

from .conftest import LICENCE

if TYPE_CHECKING:
    from pathlib import Path

CORE_EXAMPLE = '''"""Core example."""

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("example_core", schedule=None) as dag:
    EmptyOperator(task_id="nothing")
'''

PROVIDER_EXAMPLE = """from airflow.decorators import dag, task


@dag(schedule="@daily")
def example_foo_provider():
    @task
    def ping():
        return "pong"

    ping()


example_foo_provider()
"""

SDIST_SYSTEM_TEST = (
    LICENCE
    + """from airflow.models.dag import DAG
from airflow.providers.foo.operators.foo import FooOperator

from tests.system.utils import get_test_run

with DAG("example_foo_system", schedule="@once") as dag:
    FooOperator(task_id="foo")

test_run = get_test_run(dag)
"""
)

SDIST_SYSTEM_TEST_CLEAN = """from airflow.models.dag import DAG
from airflow.providers.foo.operators.foo import FooOperator

with DAG("example_foo_system", schedule="@once") as dag:
    FooOperator(task_id="foo")
"""

HELPER = "VALUE = 1\n"


def rid(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def metadata(name: str, version: str, requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def build_wheel(folder: Path, name: str, version: str, files: dict[str, str], requires: list[str]) -> Path:
    """A real wheel: the files, then METADATA, WHEEL and RECORD in `{name}-{version}.dist-info/`."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    members = {
        **files,
        f"{info}/METADATA": metadata(name, version, requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: dagmine-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for member, text in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in members.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return path


def build_sdist(folder: Path, name: str, version: str, files: dict[str, str], requires: list[str]) -> Path:
    """A real sdist: everything under `{name}-{version}/`, with PKG-INFO, and a folder entry."""
    root = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{root}.tar.gz"
    members = {"PKG-INFO": metadata(name, version, requires), **files}
    with tarfile.open(path, "w:gz") as archive:
        directory = tarfile.TarInfo(root)
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{member}")
            info.size = len(data)
            info.mtime = 1_704_067_200
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    folder = tmp_path / "dists"
    folder.mkdir()
    build_wheel(
        folder,
        "apache-airflow-core",
        "3.1.0",
        {
            "airflow/__init__.py": "",
            "airflow/example_dags/example_x.py": CORE_EXAMPLE,
            "airflow/utils/helpers.py": HELPER,
        },
        ["pendulum>=3", 'apache-airflow-task-sdk<1.2,>=1.1.0; extra == "sdk"'],
    )
    build_wheel(
        folder,
        "apache-airflow-providers-foo",
        "1.0.0",
        {"airflow/providers/foo/example_dags/example_foo.py": PROVIDER_EXAMPLE},
        ["apache-airflow>=2.9.0", 'apache-airflow>=2.11.0; python_version >= "3.13"', "requests"],
    )
    build_sdist(
        folder,
        "apache-airflow-providers-foo",
        "1.1.0",
        {
            "airflow/providers/foo/example_dags/example_foo.py": PROVIDER_EXAMPLE,
            "tests/system/foo/example_foo.py": SDIST_SYSTEM_TEST,
            "tests/system/foo/__init__.py": "",
        },
        ["apache-airflow>=2.10.0,!=2.10.1"],
    )
    (folder / "notes.txt").write_text("not a distribution\n")
    return folder


@pytest.fixture
def mined(dists: Path) -> MineResult:
    return Miner(DistributionSource(dists), config=MineConfig(jobs=1)).run()


def test_refs(dists: Path, mined: MineResult) -> None:
    assert [(r.name, r.airflow_version) for r in mined.refs] == [
        ("apache-airflow-core==3.1.0", "3.1.0"),  # core: its own version
        ("apache-airflow-providers-foo==1.0.0", "2.9.0"),  # provider: the lowest Airflow it supports
        ("apache-airflow-providers-foo==1.1.0", "2.10.0"),  # sdist: from PKG-INFO
    ]
    files = sorted(p for p in dists.iterdir() if p.suffix != ".txt")
    by_name = {r.name: r.revision for r in mined.refs}
    assert by_name["apache-airflow-core==3.1.0"] == hashlib.sha256(files[0].read_bytes()).hexdigest()


def test_records(mined: MineResult) -> None:
    assert [(r.paths, r.refs, r.airflow_versions, r.first_version, r.last_version) for r in mined.records] == [
        (["airflow/example_dags/example_x.py"], ["apache-airflow-core==3.1.0"], ["3.1.0"], "3.1.0", "3.1.0"),
        (
            ["airflow/providers/foo/example_dags/example_foo.py"],
            ["apache-airflow-providers-foo==1.0.0", "apache-airflow-providers-foo==1.1.0"],
            ["2.9.0", "2.10.0"],
            "2.9.0",
            "2.10.0",
        ),
        (["tests/system/foo/example_foo.py"], ["apache-airflow-providers-foo==1.1.0"], ["2.10.0"], "2.10.0", "2.10.0"),
    ]
    core, provider, system = mined.records
    assert (core.code, core.id, core.dag_ids, core.operators) == (
        CORE_EXAMPLE,
        rid(CORE_EXAMPLE),
        ["example_core"],
        ["EmptyOperator"],
    )
    assert (provider.code, provider.dag_ids, provider.task_count) == (PROVIDER_EXAMPLE, ["example_foo_provider"], 1)
    # The sdist's root folder is not part of the path; the system test is cleaned.
    assert system.code == SDIST_SYSTEM_TEST_CLEAN
    assert system.id == rid(SDIST_SYSTEM_TEST_CLEAN)
    assert system.original_code == SDIST_SYSTEM_TEST
    assert system.cleaning == ["licence_header", "test_imports", "test_run"]


def test_stats(mined: MineResult) -> None:
    stats = mined.stats
    assert stats.refs == 3
    # core: __init__, example_x, helpers; provider 1.0.0: example_foo; 1.1.0: example_foo, system test, __init__
    assert stats.files == 7
    assert stats.distinct_blobs == 5  # the two empty __init__.py files and the two example_foo.py are one each
    assert stats.records == 3
    assert stats.excluded == {ExclusionReason.NOT_DAG: 2}
    assert mined.exclusions == []  # files that never name a DAG are counted, not listed
    assert {name: (s.files, s.kept) for name, s in stats.per_ref.items()} == {
        "apache-airflow-core==3.1.0": (3, 1),
        "apache-airflow-providers-foo==1.0.0": (1, 1),
        "apache-airflow-providers-foo==1.1.0": (3, 2),
    }


def test_explicit_refs_and_pattern(dists: Path) -> None:
    source = DistributionSource(dists)
    assert [r.name for r in source.resolve(["apache-airflow-providers-foo==1.1.0"])] == [
        "apache-airflow-providers-foo==1.1.0"
    ]
    assert [r.name for r in source.resolve(pattern="providers")] == [
        "apache-airflow-providers-foo==1.0.0",
        "apache-airflow-providers-foo==1.1.0",
    ]
    with pytest.raises(RefError):
        source.resolve(["apache-airflow-core==9.9.9"])
    with pytest.raises(RefError):
        source.resolve(pattern="nothing-like-this")
    records = list(dagmine.mine(source, ["apache-airflow-core==3.1.0"], config=MineConfig(jobs=1)))
    assert [r.dag_ids for r in records] == [["example_core"]]


def test_single_files_and_wheel_wins_over_its_own_sdist(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "apache-airflow", "2.10.3", {"airflow/example_dags/a.py": CORE_EXAMPLE}, ["pendulum"])
    sdist = build_sdist(
        tmp_path,
        "apache-airflow",
        "2.10.3",
        {"airflow/example_dags/a.py": CORE_EXAMPLE, "airflow/example_dags/only_in_sdist.py": PROVIDER_EXAMPLE},
        [],
    )
    source = DistributionSource(sdist, wheel)
    [ref] = source.resolve()
    assert ref == Ref(
        name="apache-airflow==2.10.3",
        airflow_version="2.10.3",
        revision=hashlib.sha256(wheel.read_bytes()).hexdigest(),
    )
    [record] = dagmine.mine(source, config=MineConfig(jobs=1))
    assert record.paths == ["airflow/example_dags/a.py"]


def test_provider_without_airflow_requirement(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path, "apache-airflow-providers-bar", "2.0.0", {"bar/example.py": CORE_EXAMPLE}, ["requests"]
    )
    [record] = dagmine.mine(DistributionSource(wheel), config=MineConfig(jobs=1))
    assert record.airflow_versions == []
    assert record.first_version is None and record.last_version is None  # a ref name is not a version


def test_distribution_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        DistributionSource(tmp_path / "missing.whl")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError):
        DistributionSource(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="no wheel or sdist"):
        DistributionSource(tmp_path)
    bad = tmp_path / "not-a-proper-name.whl"
    bad.write_bytes(b"junk")
    with pytest.raises(SourceError):
        DistributionSource(bad)
    broken = tmp_path / "broken-1.0.tar.gz"
    broken.write_bytes(b"this is no archive")
    with pytest.raises(SourceError, match="cannot read"):
        Miner(DistributionSource(broken), config=MineConfig(jobs=1)).run()


# --- FolderSource -------------------------------------------------------------------------------


def make_dag(i: int) -> str:
    return f'''"""DAG number {i}."""

from airflow.sdk import DAG, task
from airflow.providers.standard.operators.bash import BashOperator

with DAG("dag_{i}", schedule="@daily") as dag:

    @task
    def hello():
        return {i}

    hello() >> BashOperator(task_id="bash_{i}", bash_command="echo {i}")
'''


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    (folder / "team_a").mkdir(parents=True)
    (folder / "team_a" / "etl.py").write_text(make_dag(1))
    (folder / "team_a" / "copy_of_etl.py").write_text(make_dag(1))
    (folder / "reports.py").write_text(make_dag(2))
    (folder / "common.py").write_text(HELPER)
    (folder / "huge.py").write_text(make_dag(3) + "#" * 5000 + "\n")
    (folder / "notes.md").write_text("# not python\n")
    for skipped in (".venv", "__pycache__", ".git"):
        (folder / skipped).mkdir()
        (folder / skipped / "ignored.py").write_text(make_dag(99))
    return folder


def test_folder_source(dags_folder: Path) -> None:
    source = FolderSource(dags_folder, label="company-dags", airflow_version="2.10.3")
    assert source.location == str(dags_folder.resolve())
    result = Miner(source, config=MineConfig(jobs=1, max_bytes=4000)).run()
    [ref] = result.refs
    assert (ref.name, ref.airflow_version) == ("company-dags", "2.10.3")
    assert [(r.paths, r.dag_ids, r.refs, r.airflow_versions) for r in result.records] == [
        (["reports.py"], ["dag_2"], ["company-dags"], ["2.10.3"]),
        (["team_a/copy_of_etl.py", "team_a/etl.py"], ["dag_1"], ["company-dags"], ["2.10.3"]),
    ]
    assert result.records[0].code == make_dag(2)
    assert result.records[0].task_count == 2
    assert [(x.reason, x.paths) for x in result.exclusions] == [(ExclusionReason.TOO_LARGE, ["huge.py"])]
    stats = result.stats
    assert (stats.files, stats.distinct_blobs, stats.kept_blobs) == (5, 4, 2)
    assert stats.excluded == {ExclusionReason.NOT_DAG: 1, ExclusionReason.TOO_LARGE: 1}


def test_folder_label_defaults_to_the_folder_name(dags_folder: Path) -> None:
    source = FolderSource(dags_folder)
    [ref] = source.resolve()
    assert (ref.name, ref.airflow_version) == ("dags", None)
    records = list(dagmine.mine(source, config=MineConfig(jobs=1)))
    assert [r.first_version for r in records] == [None, None, None]


def test_folder_revision_follows_changes(dags_folder: Path) -> None:
    source = FolderSource(dags_folder, label="x")
    [before] = source.resolve()
    assert source.resolve() == [before]
    (dags_folder / "new.py").write_text(make_dag(5))
    [after] = source.resolve()
    assert after.revision != before.revision


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        FolderSource(tmp_path / "missing")
    (tmp_path / "file.py").write_text("x = 1\n")
    with pytest.raises(SourceError):
        FolderSource(tmp_path / "file.py")
    source = FolderSource(tmp_path, label="mine")
    assert [r.name for r in source.resolve(["mine"])] == ["mine"]
    with pytest.raises(RefError):
        source.resolve(["other"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RefError, match="no Python file"):
        Miner(FolderSource(empty)).run()


def test_process_pool_gives_the_same_result(tmp_path: Path) -> None:
    """Above 200 candidate files the miner judges them in worker processes; the result must not change."""
    if not hasattr(os, "fork"):
        pytest.skip("the pool uses fork")
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(230):
        (folder / f"dag_{i:03d}.py").write_text(make_dag(i))
    (folder / "py2.py").write_text('from airflow import DAG\nprint "x"\ndag = DAG("py2")\n')
    source = FolderSource(folder, label="many")
    serial = Miner(source, config=MineConfig(jobs=1)).run()
    pooled = Miner(source, config=MineConfig(jobs=2)).run()
    assert len(serial.records) == 230
    assert [r.model_dump() for r in pooled.records] == [r.model_dump() for r in serial.records]
    assert pooled.exclusions == serial.exclusions
    assert pooled.stats == serial.stats
    assert pooled.stats.excluded == {ExclusionReason.SYNTAX_ERROR: 1}
