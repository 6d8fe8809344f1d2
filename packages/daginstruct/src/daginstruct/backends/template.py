"""An offline backend: a plausible request written from the DAG's own metadata. No key, no model."""

from __future__ import annotations

import ast
import re

from daginstruct.backends.base import RequestAtATime
from daginstruct.models import DagInput, InstructionRequest, Usage
from daginstruct.styles import version_label

_SCHEDULES = {
    "@once": "once",
    "@hourly": "every hour",
    "@daily": "every day",
    "@weekly": "every week",
    "@monthly": "every month",
    "@yearly": "every year",
    "None": "only when triggered manually",
}


def _schedule_phrase(schedule: str | None) -> str:
    if schedule is None:
        return "on a schedule of your choice"
    text = schedule.strip("\"'")
    if text in _SCHEDULES:
        return _SCHEDULES[text]
    if re.fullmatch(r"[\d*/,\- ]+", text):
        return f"on the cron schedule `{text}`"
    return f"with schedule `{text}`"


def _operator_phrase(operators: list[str]) -> str:
    words = operators[:4]
    if not words:
        return "TaskFlow `@task` functions"
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    sentence = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return sentence[:200]


def write(dag: DagInput, style: str, *, use_docstring: bool = True) -> str:
    """The request for `dag` in `style`, from its metadata alone."""
    version = version_label(dag.airflow_version)
    name = dag.dag_ids[0] if dag.dag_ids else "my_pipeline"
    when = _schedule_phrase(dag.schedule)
    ops = _operator_phrase(dag.operators)
    about = _first_sentence(dag.docstring) if use_docstring else ""
    tasks = f"{dag.task_count} tasks" if dag.task_count else "a few tasks"
    if style == "terse":
        return f"Write an {version} DAG `{name}` that runs {when} using {ops}."
    if style == "business":
        goal = about.rstrip(".") if about else f"the {name.replace('_', ' ')} job"
        return f"We need this to run {when}: {goal[0].lower() + goal[1:]}. Please set it up in {version}."
    lines = [f"Create an {version} DAG with dag_id `{name}` that runs {when}."]
    if about:
        lines.append(f"Purpose: {about}")
    lines.append(f"It should have {tasks}, built with {ops}, wired in a sensible order.")
    return " ".join(lines)


class TemplateBackend(RequestAtATime):
    """Offline; deterministic. Its requests are plausible, not natural: use a model for real datasets."""

    name = "template"
    model = "template-v1"

    def __init__(self, dags: dict[str, DagInput]) -> None:
        self.dags = dags
        self.concurrency = 1

    def complete(self, request: InstructionRequest, attempt: int) -> tuple[str, Usage]:
        dag = self.dags[request.dag_id]
        # A docstring can hold code (rejected as such); a second attempt leaves it out.
        return write(dag, request.style, use_docstring=attempt == 0), Usage()


def metadata_from_code(dag: DagInput) -> DagInput:
    """Fill schedule/operators/ids from the code when the input carried only id and code."""
    if dag.dag_ids or dag.operators:
        return dag
    try:
        tree = ast.parse(dag.code)
    except SyntaxError:
        return dag
    ids: list[str] = []
    ops: set[str] = set()
    schedule: str | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name.endswith(("Operator", "Sensor")):
                ops.add(name)
            for kw in node.keywords:
                if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    ids.append(kw.value.value)
                if kw.arg in ("schedule", "schedule_interval") and schedule is None:
                    schedule = ast.unparse(kw.value)
    return dag.model_copy(
        update={
            "dag_ids": ids,
            "operators": sorted(ops),
            "schedule": schedule,
            "docstring": dag.docstring or ast.get_docstring(tree),
        }
    )
