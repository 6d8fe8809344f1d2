"""Fetch Airflow's distributions from a package index (PyPI's JSON API), verified and cached.

This is what `pip download --no-deps` does, without needing pip in the environment: it lets
`airflow-net mine --pypi apache-airflow-core==3.1.8` run on a fresh machine that only reaches PyPI.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dagcore.manifest import sha256_file
from dagmine.exceptions import SourceError

PYPI = "https://pypi.org"


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise SourceError(f"{url}: no such project on the index (check the name)") from e
        raise SourceError(f"{url}: the index answered HTTP {e.code}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise SourceError(
            f"cannot reach {url} ({e}): download the files with `pip download --no-deps` and pass their paths"
        ) from e


def _pick_version(req: Requirement, releases: dict[str, list[dict[str, Any]]]) -> str:
    candidates: list[Version] = []
    for raw, files in releases.items():
        try:
            version = Version(raw)
        except InvalidVersion:
            continue
        if files and not all(f.get("yanked") for f in files) and req.specifier.contains(version):
            candidates.append(version)
    if not candidates:
        raise SourceError(f"no release of {req.name} matches {req.specifier or 'any version'}")
    return str(max(candidates))


def _pick_file(files: list[dict[str, Any]], sdist: bool) -> dict[str, Any]:
    wanted = "sdist" if sdist else "bdist_wheel"
    usable = [f for f in files if f.get("packagetype") == wanted and not f.get("yanked")]
    # Pure-Python wheels first: example DAGs do not depend on the platform.
    usable.sort(key=lambda f: (not str(f["filename"]).endswith("-none-any.whl"), f["filename"]))
    if not usable:
        raise SourceError(f"no {'sdist' if sdist else 'wheel'} among {[f['filename'] for f in files]}")
    return usable[0]


def _download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise SourceError(f"{url}: sha256 {digest.hexdigest()} does not match the index's {sha256}")
        Path(tmp).replace(dest)
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise SourceError(f"cannot download {url}: {e}") from e
    finally:
        Path(tmp).unlink(missing_ok=True)


def fetch(
    specs: Sequence[str],
    dest: str | Path,
    *,
    index_url: str = PYPI,
    sdist: bool = False,
    timeout: float = 60.0,
) -> list[Path]:
    """Download one distribution file per requirement (`apache-airflow==2.10.5`, `apache-airflow-core>=3.1`).

    Files already in `dest` with the index's sha256 are reused. Returns their paths, in `specs` order.
    """
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for spec in specs:
        try:
            req = Requirement(spec)
        except InvalidRequirement as e:
            raise SourceError(f"{spec!r} is not a requirement like `apache-airflow==2.10.5`: {e}") from e
        project_url = f"{index_url.rstrip('/')}/pypi/{canonicalize_name(req.name)}/json"
        project = _get_json(project_url, timeout)
        version = _pick_version(req, project.get("releases", {}))
        chosen = _pick_file(project["releases"][version], sdist)
        path = folder / str(chosen["filename"])
        sha256 = str(chosen["digests"]["sha256"])
        if not (path.is_file() and sha256_file(path) == sha256):
            # Mirrors may answer with URLs relative to the JSON document.
            _download(urllib.parse.urljoin(project_url, str(chosen["url"])), path, sha256, timeout)
        paths.append(path)
    return paths
