"""Instruction styles and the requests built from them. Templates live in `daginstruct/prompts/`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files

from dagcore import AirflowVersion
from daginstruct.exceptions import ConfigError, InputError
from daginstruct.models import DagInput, InstructionRequest

STYLES = ("terse", "detailed", "business")
"""Built-in styles, each a template in `daginstruct/prompts/<style>.md`."""

MAX_TOKENS = {"terse": 96, "detailed": 400, "business": 256}
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Code longer than this is cut in the prompt (the request is about what the DAG does, and the
# tail of a huge file adds cost, not meaning).
MAX_CODE_CHARS = 24_000


@cache
def template(name: str) -> str:
    resource = files("daginstruct") / "prompts" / f"{name}.md"
    if not resource.is_file():
        raise ConfigError(f"unknown style {name!r}: choose from {', '.join(STYLES)}")
    return resource.read_text(encoding="utf-8")


def version_label(version: AirflowVersion | None) -> str:
    """How users name a version when they ask: `Airflow 2.10`, not `2.10.3`."""
    if version is None:
        return "Airflow (any recent version)"
    return f"Airflow {version.series}"


def styles_for(dag_id: str, styles: Sequence[str], per_dag: int) -> list[str]:
    """`per_dag` of `styles` for one DAG, rotated by its id so that each style gets its share."""
    if per_dag >= len(styles):
        return list(styles)
    start = int(hashlib.sha256(dag_id.encode()).hexdigest(), 16) % len(styles)
    return [styles[(start + i) % len(styles)] for i in range(per_dag)]


def build_requests(dags: Iterable[DagInput], styles: Sequence[str], per_dag: int) -> list[InstructionRequest]:
    for style in styles:
        template(style)  # unknown styles fail before anything is built
    system = template("system").strip()
    requests: list[InstructionRequest] = []
    seen: set[str] = set()
    for dag in dags:
        if not dag.code.strip():
            raise InputError(f"DAG {dag.id!r} has no code")
        for style in styles_for(dag.id, styles, per_dag):
            custom_id = f"{dag.id}-{style}"
            if not _CUSTOM_ID.match(custom_id):
                raise InputError(
                    f"DAG id {dag.id!r} makes custom_id {custom_id!r}: ids must be letters, digits, _ or -, "
                    "64 characters at most with the style"
                )
            if custom_id in seen:
                continue  # the same DAG twice in the input: one request
            seen.add(custom_id)
            code = dag.code if len(dag.code) <= MAX_CODE_CHARS else dag.code[:MAX_CODE_CHARS] + "\n# ... (cut)\n"
            prompt = template(style).format(airflow_version=version_label(dag.airflow_version), code=code)
            requests.append(
                InstructionRequest(
                    custom_id=custom_id,
                    dag_id=dag.id,
                    style=style,
                    airflow_version=dag.airflow_version,
                    system=system,
                    prompt=prompt,
                    max_tokens=MAX_TOKENS.get(style, 256),
                )
            )
    return requests
