"""The manifest no-op: same inputs and config are recognised, any change is not, and the write is atomic."""

from __future__ import annotations

from pathlib import Path

from dagcore import finished, identity, read_manifest, stamp, write_manifest


def test_a_finished_run_is_found_and_a_change_is_not(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("one")
    out = tmp_path / "out"
    expected = stamp("demo", "dagcore", {"data": data, "model": "org/model"}, {"steps": 2})
    assert finished(out, expected) is None
    write_manifest(out, expected)  # started, not finished: the work is still to do
    assert finished(out, expected) is None and read_manifest(out) == expected
    write_manifest(out, expected.model_copy(update={"complete": True, "result": {"loss": 1.0}}))
    found = finished(out, expected)
    assert found is not None and found.result == {"loss": 1.0}
    assert finished(out, stamp("demo", "dagcore", {"data": data, "model": "org/model"}, {"steps": 3})) is None
    data.write_text("two")
    assert finished(out, stamp("demo", "dagcore", {"data": data, "model": "org/model"}, {"steps": 2})) is None
    assert [p.name for p in out.iterdir()] == ["manifest.json"]


def test_identity_of_files_folders_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x")
    before = identity(folder)
    (folder / "a.bin").write_bytes(b"y")
    assert identity(folder) != before and before.startswith("tree:")
    staged = tmp_path / "staged"
    write_manifest(staged, stamp("demo", "dagcore", {}, {}).model_copy(update={"complete": True}))
    assert identity(staged) == f"manifest:{read_manifest(staged).fingerprint}"  # type: ignore[union-attr]
    assert identity("Qwen/Qwen2.5-1.5B-Instruct") == "name:Qwen/Qwen2.5-1.5B-Instruct"
