"""The request benchmark shipped with dageval: requests as data engineers write them, with what each DAG must show.

Evaluation only: it is written by hand (see `benchmarks/README.md`) and never goes into a dataset or a prompt.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from dageval.exceptions import InputError

BENCHMARK = "requests-v1"
"""The default prompt set of `airflow-net eval --endpoint` and of the pipeline's eval stage."""


def benchmark_file(name: str = BENCHMARK) -> Path:
    """The JSONL file of a bundled benchmark (`{id, request, airflow_version, tags, expect}` rows)."""
    resource = files("dageval") / "benchmarks" / f"{name}.jsonl"
    if not resource.is_file():
        raise InputError(f"no bundled benchmark {name!r}: the default is {BENCHMARK!r}")
    with as_file(resource) as path:  # an installed wheel is a folder: this is the file itself
        return Path(path)
