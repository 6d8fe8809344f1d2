"""A plain folder of DAG files (a company's `dags/` directory): one ref, labelled by the user."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from dagcore import AirflowVersion
from dagmine.exceptions import RefError, SourceError
from dagmine.models import Ref
from dagmine.sources import Entry, content_key

_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache", ".ruff_cache"}


class FolderSource:
    """Every `.py` file under a folder. `label` names the ref; `airflow_version` tags it when known."""

    kind = "folder"

    def __init__(
        self, path: str | Path, *, label: str | None = None, airflow_version: AirflowVersion | str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise SourceError(f"{self.path} is not a folder")
        self.label = label or self.path.resolve().name
        self.airflow_version = AirflowVersion.of(airflow_version)  # a bad version fails here, before mining
        self._files: dict[str, Path] = {}

    @property
    def location(self) -> str:
        return str(self.path.resolve())

    def _walk(self) -> Iterator[Path]:
        for root, dirs, files in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(".py"):
                    yield Path(root) / name

    def resolve(self, refs: Sequence[str] | None = None, pattern: str | None = None) -> list[Ref]:
        if refs and list(refs) != [self.label]:
            raise RefError(f"a folder source has one ref, {self.label!r}; got {list(refs)}")
        # The revision changes when any file's path, size or mtime does: cheap, and enough to skip re-runs.
        digest = hashlib.sha256()
        for file in self._walk():
            stat = file.stat()
            digest.update(f"{file.relative_to(self.path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return [Ref(name=self.label, airflow_version=self.airflow_version, revision=digest.hexdigest())]

    def entries(self, refs: Sequence[Ref]) -> Iterator[Entry]:
        for file in self._walk():
            data = file.read_bytes()
            key = content_key(data)
            self._files.setdefault(key, file)
            yield Entry(ref=self.label, path=file.relative_to(self.path).as_posix(), key=key, size=len(data))

    def read(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for key in dict.fromkeys(keys):
            yield key, self._files[key].read_bytes()
