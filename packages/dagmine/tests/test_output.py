"""mine_to_dir: the three output files, the manifest, and re-runs that are no-ops unless something changed."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

import pytest

import dagmine
from dagmine import ExclusionReason, FolderSource, GitSource, Manifest, MineConfig, OutputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import AirflowRepo, RepoBuilder

FILES = ("dags.jsonl", "excluded.jsonl", "manifest.json")

DAG_A = 'from airflow import DAG\n\ndag = DAG("a")\n'
DAG_B = 'from airflow import DAG\n\ndag = DAG("b")\n'


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {name: ((out / name).stat().st_mtime_ns, (out / name).read_bytes()) for name in FILES}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_repo(make_repo: Callable[..., RepoBuilder]) -> RepoBuilder:
    repo = make_repo("small")
    repo.write("dags/a.py", DAG_A)
    repo.write("dags/helper.py", "X = 1\n")
    repo.write("dags/bad.py", 'from airflow import DAG\nprint "x"\ndag = DAG("bad")\n')
    repo.commit("first")
    repo.tag("1.0.0")
    return repo


def test_writes_three_files_and_a_manifest(airflow_repo: AirflowRepo, tmp_path: Path) -> None:
    out = tmp_path / "out" / "mine"  # created, parents too
    source = GitSource(airflow_repo.path)
    summary = dagmine.mine_to_dir(source, out, config=MineConfig(jobs=1))
    assert summary.skipped is False
    assert summary.out_dir == out
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary files left behind

    records = list(dagmine.read_records(out / "dags.jsonl"))
    assert [r.model_dump() for r in records] == [
        r.model_dump() for r in dagmine.mine(source, config=MineConfig(jobs=1))
    ]
    excluded = [json.loads(line) for line in (out / "excluded.jsonl").read_text().splitlines()]
    assert [x["reason"] for x in excluded] == ["binary", "not_dag", "not_utf8", "syntax_error", "test_internals"]

    manifest = Manifest.model_validate_json((out / "manifest.json").read_text())
    assert manifest == summary.manifest
    assert manifest.stage == "mine"
    assert manifest.package == "dagmine"
    assert manifest.version == dagmine.__version__
    assert (manifest.source.kind, manifest.source.location) == ("git", str(airflow_repo.path.resolve()))
    assert [r.name for r in manifest.refs] == ["2.9.0", "2.10.0", "3.0.0"]
    assert [r.revision for r in manifest.refs] == [airflow_repo.shas[t] for t in ("2.9.0", "2.10.0", "3.0.0")]
    assert manifest.config == MineConfig(jobs=1)
    assert manifest.outputs == {
        "dags.jsonl": sha256(out / "dags.jsonl"),
        "excluded.jsonl": sha256(out / "excluded.jsonl"),
    }
    assert manifest.stats == summary.stats
    assert (manifest.stats.records, manifest.stats.files, manifest.stats.distinct_blobs) == (5, 27, 11)
    assert manifest.stats.excluded[ExclusionReason.NOT_DAG] == 2
    assert manifest.stats.per_ref["3.0.0"].kept == 4
    assert len(records) == manifest.stats.records
    assert manifest.created_at.tzinfo is not None


def test_second_run_is_a_no_op(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    before = snapshot(out)
    second = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    assert second.skipped is True
    assert second.stats == first.stats
    assert second.manifest == first.manifest
    assert snapshot(out) == before
    # The number of worker processes does not change the output: still a no-op.
    assert dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=3)).skipped is True


def test_force_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    forced = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1), force=True)
    assert forced.skipped is False
    assert forced.manifest.created_at >= first.manifest.created_at
    assert forced.manifest.fingerprint == first.manifest.fingerprint
    assert forced.manifest.outputs == first.manifest.outputs  # same inputs, same bytes


def test_new_tag_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    small_repo.write("dags/b.py", DAG_B)
    small_repo.commit("second")
    small_repo.tag("1.1.0")
    again = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    assert again.skipped is False
    assert again.manifest.fingerprint != first.manifest.fingerprint
    assert [r.name for r in again.manifest.refs] == ["1.0.0", "1.1.0"]
    records = list(dagmine.read_records(out))
    assert [(r.dag_ids, r.refs) for r in records] == [(["a"], ["1.0.0", "1.1.0"]), (["b"], ["1.1.0"])]
    assert dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1)).skipped is True


def test_moved_tag_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    small_repo.write("dags/a.py", DAG_B)
    small_repo.commit("retag")
    small_repo.git("tag", "-f", "1.0.0")
    again = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    assert again.skipped is False
    assert [r.dag_ids for r in dagmine.read_records(out)] == [["b"]]


def test_config_change_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    again = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1, max_bytes=5))
    assert again.skipped is False
    assert list(dagmine.read_records(out)) == []
    assert again.stats.excluded == {ExclusionReason.TOO_LARGE: 3}


@pytest.mark.parametrize("name", ["dags.jsonl", "excluded.jsonl"])
def test_tampered_output_mines_again(small_repo: RepoBuilder, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    good = (out / name).read_bytes()
    (out / name).write_bytes(good + b'{"tampered": true}\n')
    again = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    assert again.skipped is False
    assert (out / name).read_bytes() == good


def test_missing_output_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    (out / "dags.jsonl").unlink()
    assert dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1)).skipped is False
    assert (out / "dags.jsonl").is_file()


def test_unreadable_manifest_mines_again(small_repo: RepoBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    (out / "manifest.json").write_text("{not json")
    again = dagmine.mine_to_dir(GitSource(small_repo.path), out, config=MineConfig(jobs=1))
    assert again.skipped is False
    assert Manifest.model_validate_json((out / "manifest.json").read_text()) == again.manifest


def test_folder_source_reruns_when_a_file_changes(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a.py").write_text(DAG_A)
    out = tmp_path / "out"
    assert dagmine.mine_to_dir(FolderSource(dags), out, config=MineConfig(jobs=1)).skipped is False
    assert dagmine.mine_to_dir(FolderSource(dags), out, config=MineConfig(jobs=1)).skipped is True
    (dags / "a.py").write_text(DAG_B + "# longer\n")
    assert dagmine.mine_to_dir(FolderSource(dags), out, config=MineConfig(jobs=1)).skipped is False
    assert [r.dag_ids for r in dagmine.read_records(out)] == [["b"]]


def test_read_records_round_trips(airflow_repo: AirflowRepo, tmp_path: Path) -> None:
    source = GitSource(airflow_repo.path)
    dagmine.mine_to_dir(source, tmp_path, config=MineConfig(jobs=1))
    from_folder = list(dagmine.read_records(tmp_path))
    from_file = list(dagmine.read_records(tmp_path / "dags.jsonl"))
    assert from_folder == from_file
    in_memory = list(dagmine.mine(source, config=MineConfig(jobs=1)))
    assert from_folder == in_memory
    lines = (tmp_path / "dags.jsonl").read_text().splitlines()
    assert lines == [r.model_dump_json() for r in in_memory]


def test_progress_is_reported(small_repo: RepoBuilder, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    dagmine.mine_to_dir(
        GitSource(small_repo.path),
        tmp_path / "out",
        config=MineConfig(jobs=1),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert calls[0] == ("list", 1, 1)
    assert ("read", 3, 3) in calls
    assert calls[-1] == ("parse", 2, 2)  # helper.py never names a DAG: not parsed


def test_output_folder_that_is_a_file(small_repo: RepoBuilder, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("a file\n")
    with pytest.raises(OutputError):
        dagmine.mine_to_dir(GitSource(small_repo.path), target, config=MineConfig(jobs=1))


def test_output_files_follow_the_umask(small_repo: RepoBuilder, tmp_path: Path) -> None:
    """Outputs are data for others to read: created like any file (0o666 less the umask), not 0o600."""
    umask = os.umask(0o022)
    try:
        dagmine.mine_to_dir(GitSource(small_repo.path), tmp_path / "out", config=MineConfig(jobs=1))
    finally:
        os.umask(umask)
    modes = {name: (tmp_path / "out" / name).stat().st_mode & 0o777 for name in FILES}
    assert modes == dict.fromkeys(FILES, 0o644)
