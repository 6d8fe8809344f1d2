"""The manifest that makes a stage a no-op when nothing it reads has changed.

A stage writes `manifest.json` into its output folder last, atomically: the hash of everything that decides
its output (what it read, its config, its package's version) and the result it returned. Run again with the
same fingerprint, the stage returns that result without doing the work. A folder without a finished manifest
holds an interrupted run, which the stage resumes or redoes itself.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class Manifest(BaseModel):
    """What a stage read, how, and what it returned."""

    stage: str
    package: str
    version: str
    """The package's version: a new version may write something else, so it redoes the work."""
    inputs: dict[str, str]
    """Input name -> its identity (see `identity`)."""
    config: dict[str, Any]
    fingerprint: str
    """Hash of stage, package, version, inputs and config."""
    complete: bool = False
    """Set when the stage finished; an unfinished manifest marks work that may be resumed."""
    result: dict[str, Any] = {}
    """The stage's typed result, as JSON."""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks (models are gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def identity(source: Path | str) -> str:
    """What an input is, as a short string that changes when its content does.

    A file is its sha256. A folder that an airflow-net stage finished is known by its manifest's fingerprint:
    cheap even for model weights, and it already covers what made that folder. Any other folder is the hash of
    its files; a name that is no path (a hub id) is itself.
    """
    path = Path(source)
    if path.is_file():
        return f"sha256:{sha256_file(path)}"
    if path.is_dir():
        found = _stage_fingerprint(path)
        if found is not None:
            return f"manifest:{found}"
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
        return f"tree:{digest.hexdigest()}"
    return f"name:{source}"


def _stage_fingerprint(folder: Path) -> str | None:
    """The fingerprint of a finished stage's manifest; read loosely, as every package writes its own."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("complete", True) is not True:
        return None  # an unfinished run's fingerprint says nothing about what the folder holds
    found = data.get("fingerprint")
    return found if isinstance(found, str) and found else None


def stamp(stage: str, package: str, inputs: Mapping[str, Path | str], config: Mapping[str, Any]) -> Manifest:
    """The manifest a run with these inputs and this config writes (unfinished, no result yet)."""
    version = importlib.metadata.version(package)
    found = {name: identity(value) for name, value in sorted(inputs.items())}
    settings = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    blob = json.dumps([stage, package, version, found, settings], sort_keys=True)
    return Manifest(
        stage=stage,
        package=package,
        version=version,
        inputs=found,
        config=settings,
        fingerprint=hashlib.sha256(blob.encode()).hexdigest(),
    )


def read_manifest(folder: Path) -> Manifest | None:
    try:
        return Manifest.model_validate_json((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def finished(folder: Path, expected: Manifest) -> Manifest | None:
    """The manifest of a finished run in `folder` with `expected`'s fingerprint, or None: the work is to do."""
    found = read_manifest(folder)
    if found is None or not found.complete or found.fingerprint != expected.fingerprint:
        return None
    return found


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write to a temporary name, then rename: a reader sees the old manifest or the new one, never half."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(target)
    return target
