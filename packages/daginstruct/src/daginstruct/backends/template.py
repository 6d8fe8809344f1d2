"""An offline backend: a request in a user's words, written from what the DAG's code does. No key, no model."""

from __future__ import annotations

import ast
import re

from daginstruct.backends._describe import describe
from daginstruct.backends.base import RequestAtATime
from daginstruct.models import DagInput, InstructionRequest, Usage
from daginstruct.styles import version_label

_FEATURES = {
    "mapping": "fan out with one task per item of a list",
    "branching": "pick a branch depending on the data",
    "task_group": "keep related steps together in a task group",
    "retries": "retry failed steps",
    "alerts": "alert us when something fails",
    "deferrable": "wait without holding a worker slot (deferrable)",
}


def _chain(steps: list[str]) -> str:
    """`a`, `a and then b`, `a, then b, and finally c`."""
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        return f"{steps[0]} and then {steps[1]}"
    return ", then ".join(steps[:-1]) + f", and finally {steps[-1]}"


def _scrub(text: str, names: set[str]) -> str:
    """Drop the file's own ids (longer than 3 characters) wherever they still show up, as whole words."""
    for name in sorted((n for n in names if len(n) > 3), key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text))
    return text.strip()


def write(dag: DagInput, style: str, *, use_docstring: bool = True) -> str:
    """The request for `dag` in `style`, in a user's words, from what its code does: no ids, no file, no code."""
    facts = describe(dag.code, dag.docstring)
    version = version_label(dag.airflow_version)
    steps = facts.steps[:5] or ["run a couple of simple steps"]
    when = facts.schedule
    purpose = facts.purpose if use_docstring else ""
    systems = ", ".join(facts.systems[:3])
    said = " ".join(steps)
    features = [_FEATURES[f] for f in facts.features if f in _FEATURES and not (f == "branching" and "branch" in said)]
    features = features[:2]
    if style == "terse":
        text = f"{version} DAG: {_chain(steps[:3])}" + (f", {when}" if when else "") + "."
    elif style == "business":
        goal = purpose.rstrip(".") if purpose else f"a pipeline that can {steps[0]}"
        lines = [f"We need {goal[0].lower() + goal[1:]}" + (f", running {when}" if when else "") + "."]
        if systems:
            lines.append(f"It touches {systems}.")
        lines.append(f"Please set it up in {version}.")
        text = " ".join(lines)
    else:
        lines = [f"I need an {version} DAG" + (f" that runs {when}" if when else "") + "."]
        if purpose:
            lines.append(purpose.rstrip(".") + ".")
        lines.append(f"It should {_chain(steps)}.")
        if features:
            lines.append(f"Also {' and '.join(features)}.")
        text = " ".join(lines)
    return _scrub(text, facts.names | set(dag.dag_ids))


class TemplateBackend(RequestAtATime):
    """Offline; deterministic. Its requests are plausible, not natural: use a model for real datasets."""

    name = "template"
    model = "template-v2"

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
