"""Which provider distributions dageval may install: only those Airflow itself publishes.

A DAG file's `from airflow.providers.<x> import ...` names a distribution; installing whatever a file names
would let the file choose what runs next to the sandbox. The list is read offline: from the runtime's own
`apache-airflow` metadata (each release lists its providers as extras), together with the lists bundled
here (`providers.json`, several releases), so a provider newer than the runtime can still be tried.
`dageval runtime providers --refresh` adds the lists of the installed runtimes to the bundled file.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

BUNDLED = Path(__file__).with_name("providers.json")
_READ = """import importlib.metadata as m, json, re
names = {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in m.requires("apache-airflow") or []}
print(json.dumps(sorted(n.replace("_", "-") for n in names if n.startswith("apache-airflow-providers"))))
"""
_NAME = re.compile(r"apache-airflow-providers-[a-z0-9-]+")


def bundled(path: Path = BUNDLED) -> dict[str, list[str]]:
    """Airflow release -> the providers it lists, as bundled with dageval."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    versions = data.get("versions", {})
    return {str(v): [str(n) for n in names if _NAME.fullmatch(str(n))] for v, names in versions.items()}


def listed_by(python: Path) -> list[str]:
    """The providers an installed Airflow lists in its own metadata (empty when it cannot be read)."""
    done = subprocess.run([str(python), "-c", _READ], capture_output=True, text=True, check=False)
    try:
        found = json.loads(done.stdout) if done.returncode == 0 else []
    except json.JSONDecodeError:
        return []
    return [str(n) for n in found if _NAME.fullmatch(str(n))]


def allowed(own: list[str], path: Path = BUNDLED) -> set[str]:
    """The runtime's own list and every bundled one: what may be installed."""
    return set(own).union(*bundled(path).values())


def refresh(lists: dict[str, list[str]], path: Path = BUNDLED) -> dict[str, list[str]]:
    """Add (or replace) the lists of these releases in the bundled file; returns all lists."""
    versions = {**bundled(path), **{v: sorted(names) for v, names in lists.items() if names}}
    about = json.loads(path.read_text()).get("about", "") if path.is_file() else ""
    ordered = dict(sorted(versions.items(), key=lambda item: tuple(int(x) for x in re.findall(r"\d+", item[0]))))
    path.write_text(json.dumps({"about": about, "versions": ordered}, indent=1) + "\n")
    return ordered
