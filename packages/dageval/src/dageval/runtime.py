"""Airflow runtimes: one isolated virtualenv per Airflow version, made with uv, cached and reused.

Airflow is never a dependency of dageval. A runtime is installed with Airflow's own constraints file
for that version and Python when it can be fetched (or one given); else it is resolved as of the release
(uv's `--exclude-newer` at the release's upload time on the index), and the runtime says which. It also
gets the provider distributions that the files under test import (when they exist on PyPI), within the
same constraints or the same date, so that a DAG is judged on its own code and not on what happens to be
installed; only providers Airflow itself publishes are installed (`dageval.providers`), never a name a file
made up. Before use, the environment is checked (`uv pip check`, Airflow and each provider import): one
that does not hold together is `runtime_broken`, the environment's failure, never the file's.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from dageval._asof import exclude_newer
from dageval.exceptions import RuntimeBrokenError, RuntimeUnavailableError
from dageval.providers import allowed, listed_by

_PROVIDER = re.compile(r"^\s*(?:from|import)\s+airflow\.providers\.([a-z0-9_]+(?:\.[a-z0-9_]+)?)", re.MULTILINE)
# Providers whose package name has two levels (airflow.providers.apache.spark -> apache-spark).
_TWO_LEVEL = {"apache", "microsoft", "common", "cncf", "dbt", "atlassian"}


CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{version}/constraints-{python}.txt"


class RuntimeInfo(BaseModel):
    version: str
    python: Path
    airflow_home: Path
    providers: dict[str, bool] = {}
    """Provider distribution -> whether it exists (and is installed)."""
    constraints: str | None = None
    """Where the constraints came from, or None when installed without (none could be fetched)."""
    exclude_newer: str | None = None
    """Without constraints: the date the environment was resolved as of (the release's upload, plus a day)."""
    broken_providers: dict[str, str] = {}
    """Providers installed but failing the environment check, with why: files that need them are not judged."""


class _State(BaseModel):
    providers: dict[str, bool] = {}
    constraints: str | None = None
    exclude_newer: str | None = None
    broken: str | None = None
    """Why the environment failed its check; a broken runtime is kept (and reported) until removed."""
    broken_providers: dict[str, str] = {}
    listed_providers: list[str] = []
    """The providers this Airflow lists in its own metadata (read once)."""


def resolve_version(spec: str) -> str:
    """`3.1.x`, `3.1.*` or `3.1` -> the newest release of that series on the package index; exact as is."""
    spec = spec.strip().removeprefix("v")
    if re.fullmatch(r"\d+\.\d+\.\d+", spec):
        return spec
    series = re.fullmatch(r"(\d+\.\d+)(?:\.[x*])?", spec)
    if not series:
        raise RuntimeUnavailableError(f"an Airflow version is like 2.10.5, 3.1 or 3.1.x, not {spec!r}")
    done = subprocess.run(
        [_uv(), "pip", "compile", "-", "--no-deps", "--no-header", "-q", "--python-version", _python()],
        input=f"apache-airflow=={series.group(1)}.*\n",
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"apache-airflow==(\d+\.\d+\.\d+)", done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeUnavailableError(
            f"no Apache Airflow {series.group(1)}.x found on the index: {done.stderr.strip()[-300:]}"
        )
    return found.group(1)


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


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
        raise RuntimeUnavailableError("the Airflow runtimes are made with uv: `pip install uv`") from e


def provider_distribution(module: str) -> str:
    """`google.cloud` -> `apache-airflow-providers-google`; `apache.spark` -> `...-apache-spark`."""
    parts = module.split(".")
    name = parts[:2] if parts[0] in _TWO_LEVEL and len(parts) > 1 else parts[:1]
    return "apache-airflow-providers-" + "-".join(name).replace("_", "-")


def provider_module(distribution: str) -> str:
    """`apache-airflow-providers-cncf-kubernetes` -> `airflow.providers.cncf.kubernetes`."""
    parts = distribution.removeprefix("apache-airflow-providers-").split("-")
    if parts[0] in _TWO_LEVEL and len(parts) > 1:
        return "airflow.providers." + parts[0] + "." + "_".join(parts[1:])
    return "airflow.providers." + "_".join(parts)


def providers_in(codes: Iterable[str]) -> set[str]:
    return {provider_distribution(m) for code in codes for m in _PROVIDER.findall(code)}


class Runtime:
    """`Runtime("3.1.3").ensure()` creates (once) and returns the venv of that Airflow version."""

    def __init__(self, version: str, root: Path | None = None, constraints: str | None = None) -> None:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise RuntimeUnavailableError(f"give an exact Airflow version like 2.10.5 or 3.1.3, not {version!r}")
        self.version = version
        self.constraints_source = constraints
        self.dir = (root or default_root()) / f"airflow-{version}"
        self.python = self.dir / "bin" / "python"
        self.airflow_home = self.dir / "airflow-home"
        self.state_file = self.dir / "dageval-runtime.json"
        self.constraints_file = self.dir / "constraints.txt"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def _state(self) -> _State:
        if not self.state_file.is_file():
            return _State()
        data = json.loads(self.state_file.read_text())
        if "providers" not in data:  # the first format: the providers map alone
            return _State(providers=data)
        return _State.model_validate(data)

    def _save(self, state: _State) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.model_dump_json(indent=2))
        tmp.replace(self.state_file)

    def _fetch_constraints(self) -> str | None:
        """Airflow's constraints for this version and Python: a given file or URL, else the official URL."""
        source = self.constraints_source or CONSTRAINTS_URL.format(version=self.version, python=_python())
        try:
            if Path(source).is_file():
                text = Path(source).read_text()
            else:
                with urllib.request.urlopen(source, timeout=10) as response:
                    text = response.read().decode()
        except (OSError, ValueError) as e:
            if self.constraints_source:
                raise RuntimeUnavailableError(f"cannot read the constraints {source}: {e}") from e
            return None  # offline or not published: install without, and the runtime says so
        # Airflow's own pin in its constraints would fight the exact version asked for.
        lines = [line for line in text.splitlines() if not line.lower().startswith("apache-airflow==")]
        self.constraints_file.write_text("\n".join(lines) + "\n")
        return source

    def _install(self, *packages: str, as_of: str | None = None) -> subprocess.CompletedProcess[str]:
        pins = ["-c", str(self.constraints_file)] if self.constraints_file.is_file() else []
        pins += ["--exclude-newer", as_of] if as_of and not pins else []
        return subprocess.run(
            [
                _uv(),
                "pip",
                "install",
                "--python",
                str(self.python),
                *pins,
                *packages,
                f"apache-airflow=={self.version}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    @property
    def installed(self) -> bool:
        return self.state_file.is_file()

    def ensure(self) -> RuntimeInfo:
        if not self.installed:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            # One installer per version at a time, across processes (parallel test workers, two CLIs).
            with (self.dir.parent / f".{self.dir.name}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not self.installed:
                    self._create()
        state = self._state()
        if state.broken:
            raise RuntimeBrokenError(
                f"the Airflow {self.version} runtime is broken ({state.broken}); "
                f"`dageval runtime remove {self.version}` and install it again"
            )
        return RuntimeInfo(
            version=self.version,
            python=self.python,
            airflow_home=self.airflow_home,
            providers=state.providers,
            constraints=state.constraints,
            exclude_newer=state.exclude_newer,
            broken_providers=state.broken_providers,
        )

    def _create(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)  # what an interrupted install left: start clean
        made = subprocess.run(
            [_uv(), "venv", "--python", _python(), str(self.dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeUnavailableError(f"cannot create the runtime venv {self.dir}: {made.stderr.strip()[-300:]}")
        constraints = self._fetch_constraints()
        as_of = None
        if constraints is None:
            try:
                as_of = exclude_newer("apache-airflow", self.version)
            except RuntimeUnavailableError:
                as_of = None  # an index without upload times: today's resolve, and the runtime says so
        done = self._install(as_of=as_of)
        if done.returncode != 0:
            raise RuntimeUnavailableError(
                f"cannot install apache-airflow=={self.version}: {done.stderr.strip()[-500:]}"
            )
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        state = _State(constraints=constraints, exclude_newer=as_of)
        state.broken = self.check_environment(["airflow"])
        if state.broken is None and self.major < 3:
            self._migrate()  # Airflow 2's DagBag reads the metadata DB (a local SQLite file here)
        self._save(state)  # written last: its presence means "made" (and, unless broken, ready)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _migrate(self) -> None:
        env = {**os.environ, "AIRFLOW_HOME": str(self.airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        done = subprocess.run(
            [str(self.python), "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0:
            raise RuntimeUnavailableError(
                f"`airflow db migrate` failed for Airflow {self.version}: {done.stderr.strip()[-500:]}"
            )

    def check_environment(self, modules: Iterable[str]) -> str | None:
        """None when the environment holds together (`uv pip check`, and each module imports); else why not."""
        checked = subprocess.run(
            [_uv(), "pip", "check", "--python", str(self.python)], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            return f"uv pip check: {(checked.stdout + checked.stderr).strip()[-400:]}"
        env = {**os.environ, "AIRFLOW_HOME": str(self.airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
        imported = subprocess.run(
            [str(self.python), "-c", code, *modules], capture_output=True, text=True, env=env, check=False
        )
        if imported.returncode != 0:
            last = imported.stderr.strip().splitlines()[-1:] or ["no output"]
            return f"import failed: {last[0][-400:]}"
        return None

    def allowed_providers(self) -> set[str]:
        """The provider distributions that may be installed here: those Airflow publishes."""
        state = self._state()
        if not state.listed_providers and self.python.is_file():
            state.listed_providers = listed_by(self.python)
            if state.listed_providers and self.installed:
                self._save(state)
        return allowed(state.listed_providers)

    def add_providers(self, distributions: Iterable[str]) -> dict[str, bool]:
        """Install the providers not tried yet, of those Airflow publishes (the others are left out: see
        `allowed_providers`); remember which do not exist (or cannot fit this version), and which installed but
        broke the environment check."""
        permitted = self.allowed_providers()
        state = self._state()
        for distribution in sorted((set(distributions) & permitted) - set(state.providers)):
            # Resolved together with the providers already there: installed alone, a provider may move a
            # shared dependency (cryptography, say) past what an earlier provider allows.
            broken = state.broken_providers
            present = [name for name, ok in sorted(state.providers.items()) if ok and name not in broken]
            installed = self._install(*present, distribution, as_of=state.exclude_newer)
            state.providers[distribution] = installed.returncode == 0
            if state.providers[distribution]:
                why = self.check_environment([provider_module(distribution)])
                if why is not None:
                    state.broken_providers[distribution] = why
        self._save(state)
        return state.providers


def installed_runtimes(root: Path | None = None) -> list[RuntimeInfo]:
    """The runtimes ready under `root`, oldest Airflow first."""
    base = root or default_root()
    found = []
    for folder in base.glob("airflow-*") if base.is_dir() else []:
        version = folder.name.removeprefix("airflow-")
        if re.fullmatch(r"\d+\.\d+\.\d+", version) and (folder / "dageval-runtime.json").is_file():
            try:
                found.append(Runtime(version, base).ensure())
            except RuntimeBrokenError:
                continue  # made but broken: not a runtime to judge on (`dageval runtime list` says why)
    return sorted(found, key=lambda info: tuple(int(x) for x in info.version.split(".")))
