"""Airflow runtimes: one isolated virtualenv per Airflow version, made with uv, cached and reused.

Airflow is never a dependency of dageval. A runtime also gets the provider distributions that the
files under test import (when they exist on PyPI), pinned to its Airflow version, so that a DAG is
judged on its own code and not on what happens to be installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from dageval.exceptions import DagevalError

_PROVIDER = re.compile(r"^\s*(?:from|import)\s+airflow\.providers\.([a-z0-9_]+(?:\.[a-z0-9_]+)?)", re.MULTILINE)
# Providers whose package name has two levels (airflow.providers.apache.spark -> apache-spark).
_TWO_LEVEL = {"apache", "microsoft", "common", "cncf", "dbt", "atlassian"}


class RuntimeError_(DagevalError):
    """A runtime cannot be created or a package cannot be installed into it."""


class RuntimeInfo(BaseModel):
    version: str
    python: Path
    airflow_home: Path
    providers: dict[str, bool] = {}
    """Provider distribution -> whether it exists (and is installed)."""


def default_root() -> Path:
    base = os.environ.get("AIRFLOW_NET_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "airflow-net") / "runtimes"


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return str(find_uv_bin())
    except ImportError as e:
        raise RuntimeError_("the Airflow runtimes are made with uv: `pip install uv`") from e


def provider_distribution(module: str) -> str:
    """`google.cloud` -> `apache-airflow-providers-google`; `apache.spark` -> `...-apache-spark`."""
    parts = module.split(".")
    name = parts[:2] if parts[0] in _TWO_LEVEL and len(parts) > 1 else parts[:1]
    return "apache-airflow-providers-" + "-".join(name).replace("_", "-")


def providers_in(codes: Iterable[str]) -> set[str]:
    return {provider_distribution(m) for code in codes for m in _PROVIDER.findall(code)}


class Runtime:
    """`Runtime("3.1.3").ensure()` creates (once) and returns the venv of that Airflow version."""

    def __init__(self, version: str, root: Path | None = None) -> None:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise RuntimeError_(f"give an exact Airflow version like 2.10.5 or 3.1.3, not {version!r}")
        self.version = version
        self.dir = (root or default_root()) / f"airflow-{version}"
        self.python = self.dir / "bin" / "python"
        self.airflow_home = self.dir / "airflow-home"
        self.state_file = self.dir / "dageval-runtime.json"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def _state(self) -> dict[str, bool]:
        if self.state_file.is_file():
            data: dict[str, bool] = json.loads(self.state_file.read_text())
            return data
        return {}

    def _save(self, providers: dict[str, bool]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(providers, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    def _install(self, *packages: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_uv(), "pip", "install", "--python", str(self.python), *packages, f"apache-airflow=={self.version}"],
            capture_output=True,
            text=True,
            check=False,
        )

    def ensure(self) -> RuntimeInfo:
        if not self.state_file.is_file():
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            made = subprocess.run(
                [_uv(), "venv", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(self.dir)],
                capture_output=True,
                text=True,
                check=False,
            )
            if made.returncode != 0:
                raise RuntimeError_(f"cannot create the runtime venv {self.dir}: {made.stderr.strip()[-300:]}")
            done = self._install()
            if done.returncode != 0:
                raise RuntimeError_(f"cannot install apache-airflow=={self.version}: {done.stderr.strip()[-500:]}")
            self.airflow_home.mkdir(parents=True, exist_ok=True)
            if self.major < 3:
                self._migrate()  # Airflow 2's DagBag reads the metadata DB (a local SQLite file here)
            self._save({})
        return RuntimeInfo(
            version=self.version, python=self.python, airflow_home=self.airflow_home, providers=self._state()
        )

    def _migrate(self) -> None:
        env = {**os.environ, "AIRFLOW_HOME": str(self.airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        done = subprocess.run(
            [str(self.python), "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0:
            raise RuntimeError_(f"`airflow db migrate` failed for Airflow {self.version}: {done.stderr.strip()[-500:]}")

    def add_providers(self, distributions: Iterable[str]) -> dict[str, bool]:
        """Install the providers not tried yet; remember which do not exist (or cannot fit this version)."""
        state = self._state()
        for distribution in sorted(set(distributions) - set(state)):
            state[distribution] = self._install(distribution).returncode == 0
        self._save(state)
        return state
