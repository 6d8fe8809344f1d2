"""When a release was published on the package index, so a runtime can be resolved as of that day.

Airflow's constraints files live on GitHub, which users behind a proxy (and this project's machines) cannot
reach. Without them, a fresh resolve takes today's dependencies, which older Airflows were never tested with
(pendulum 3 under Airflow 2.7, NumPy 2 under an old pyarrow). Resolving with uv's `--exclude-newer` at the
release's upload time gives the environment the release was made in, from the index alone.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timedelta

from dageval.exceptions import RuntimeUnavailableError

_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def index_url() -> str:
    """The simple index uv installs from (`UV_DEFAULT_INDEX`, `UV_INDEX_URL`, `PIP_INDEX_URL`, else PyPI)."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    return "https://pypi.org/simple"


def release_time(project: str, version: str, *, timeout: float = 20.0) -> datetime:
    """The upload time of the last file of `project==version` (PEP 691 JSON with PEP 700 upload times)."""
    url = f"{index_url()}/{project}/"
    request = urllib.request.Request(url, headers={"Accept": _SIMPLE_JSON})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.loads(response.read().decode())
    except (OSError, ValueError) as e:
        raise RuntimeUnavailableError(f"cannot ask {url} when {project} {version} was released: {e}") from e
    times = [
        datetime.fromisoformat(str(f["upload-time"]).replace("Z", "+00:00"))
        for f in data.get("files", [])
        if f.get("upload-time") and _version_of(str(f.get("filename", "")), project) == version
    ]
    if not times:
        raise RuntimeUnavailableError(f"{url} lists no upload time for {project} {version}")
    return max(times)


def exclude_newer(project: str, version: str) -> str:
    """uv's `--exclude-newer` for an environment as of a release: a day after its last upload.

    A day, because a release's own dependencies (providers cut with it) often land on the index hours later."""
    return (release_time(project, version) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version_of(filename: str, project: str) -> str:
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip").removesuffix(".whl")
    for prefix in (project.replace("-", "_") + "-", project + "-"):
        if stem.startswith(prefix):
            return stem.removeprefix(prefix).split("-")[0]
    return ""
