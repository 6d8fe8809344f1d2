"""Write a run's outputs atomically, with a manifest that makes re-runs with the same inputs a no-op."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from dagcore.manifest import sha256_file
from dagmine.exceptions import OutputError
from dagmine.models import MineConfig, MineStats, Ref

DAGS_FILE = "dags.jsonl"
EXCLUDED_FILE = "excluded.jsonl"
MANIFEST_FILE = "manifest.json"

_UMASK = os.umask(0)
os.umask(_UMASK)


class SourceInfo(BaseModel):
    kind: str
    location: str


class Manifest(BaseModel):
    """What a mining run read, how, and what it wrote. Written last: its presence means the run finished."""

    stage: str = "mine"
    package: str = "dagmine"
    version: str
    source: SourceInfo
    refs: list[Ref]
    config: MineConfig
    fingerprint: str
    """Hash of everything that decides the output: source kind, ref revisions, config, package version."""
    stats: MineStats
    outputs: dict[str, str]
    """Output file name -> sha256 of its content."""
    created_at: datetime


def fingerprint(kind: str, refs: list[Ref], config: MineConfig, version: str) -> str:
    payload = json.dumps(
        {
            "kind": kind,
            "refs": [[r.name, r.revision, str(r.airflow_version) if r.airflow_version else None] for r in refs],
            "config": config.model_dump(mode="json", exclude={"jobs"}),
            "version": version,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def read_manifest(out_dir: Path) -> Manifest | None:
    path = out_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValueError:
        return None  # unreadable or from an older layout: treat as absent and mine again


def is_current(out_dir: Path, expected: str) -> Manifest | None:
    """The manifest if `out_dir` already holds a complete run with this fingerprint, untouched since."""
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.fingerprint != expected:
        return None
    for name, digest in manifest.outputs.items():
        path = out_dir / name
        if not path.is_file() or sha256_file(path) != digest:
            return None
    return manifest


def atomic_write_lines(path: Path, lines: Iterable[str]) -> str:
    """Write lines to a temp file beside `path`, fsync, rename over it; return the sha256."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0o600 files; outputs are for others to read too
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                data = line + "\n"
                digest.update(data.encode())
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def prepare(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output folder {out_dir}: {e.strerror}") from e
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"output folder {out_dir} is not writable")


def now() -> datetime:
    return datetime.now(UTC)
