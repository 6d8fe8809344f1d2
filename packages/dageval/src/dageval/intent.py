"""Level 6, intent: does the DAG that Airflow really loaded show what the request asked for?

Validity alone rewards a model that answers every request with the same hello-world DAG. A benchmark row
says what its DAG must show (`Expect`); the import level's worker reports what Airflow loaded (`LoadedDag`:
the schedule, each task's operator class and bases, mapping, retries, callbacks, groups, params); this
module compares the two. Providers are read from the file's own imports (a hook inside a `@task` counts).
"""

from __future__ import annotations

import ast

from dagcore import Expect
from dageval._cron import same_schedule
from dageval.models import Level, LevelResult, LoadedDag


def _asset_triggered(dag: LoadedDag) -> bool:
    return any(word in dag.timetable for word in ("Dataset", "Asset")) or dag.schedule in ("Dataset", "Asset")


def _unscheduled(dag: LoadedDag) -> bool:
    return dag.timetable == "NullTimetable" or dag.schedule in ("None", "")


def _has(feature: str, dag: LoadedDag) -> bool:
    tasks = dag.tasks
    if feature == "mapping":
        return any(t.mapped for t in tasks)
    if feature == "branching":
        return any("Branch" in t.operator or any("Branch" in b for b in t.bases) for t in tasks) or any(
            "ShortCircuit" in t.operator for t in tasks
        )
    if feature == "task_group":
        return dag.task_groups > 0
    if feature == "sensor":
        return any("BaseSensorOperator" in t.bases for t in tasks)
    if feature == "deferrable":
        return any(t.deferrable for t in tasks)
    if feature == "params":
        return bool(dag.params)
    if feature == "retries":
        return any(t.retries > 0 for t in tasks)
    if feature == "callbacks":
        return dag.callbacks or any(t.callbacks for t in tasks)
    if feature == "taskflow":
        return any("DecoratedOperator" in t.operator or "DecoratedOperator" in " ".join(t.bases) for t in tasks)
    if feature == "trigger_rule":
        return any(t.trigger_rule != "all_success" for t in tasks)
    return False


def imported_providers(code: str) -> set[str]:
    """`airflow.providers.cncf.kubernetes.operators.pod` -> `cncf.kubernetes` and `cncf`; one level otherwise."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["airflow", "providers"] and len(parts) > 2:
                found.add(parts[2])
                if len(parts) > 3:
                    found.add(f"{parts[2]}.{parts[3]}")
    return found


def check_intent(expect: Expect | None, dags: list[LoadedDag], code: str) -> LevelResult:
    """The intent-level result: the first expectation no loaded DAG of the file meets, or ok."""

    def fail(category: str, message: str) -> LevelResult:
        return LevelResult(level=Level.INTENT, ok=False, category=category, message=message)

    if expect is None:
        return LevelResult(level=Level.INTENT, ok=True, message="the request asked for nothing beyond a valid DAG")
    if not dags:
        return fail("intent_unknown", "the loaded DAG could not be read")
    if expect.schedule is not None:
        wanted = expect.schedule.strip()
        if wanted == "asset":
            ok = any(_asset_triggered(d) for d in dags)
        elif wanted == "none":
            ok = any(_unscheduled(d) for d in dags)
        else:
            ok = any(same_schedule(d.schedule, wanted) for d in dags)
        if not ok:
            said = ", ".join(sorted({d.schedule or "none" for d in dags}))
            return fail("intent_schedule", f"the request asks for schedule {wanted}; the DAG runs on {said}")
    missing = sorted(set(expect.providers) - imported_providers(code))
    if missing:
        return fail("intent_provider", f"the request needs {', '.join(missing)}; the file does not use it")
    for feature in expect.features:
        if not any(_has(feature, d) for d in dags):
            return fail(f"intent_{feature}", f"the request asks for {feature.replace('_', ' ')}; the DAG has none")
    tasks = max(len(d.tasks) for d in dags)
    if expect.min_tasks is not None and tasks < expect.min_tasks:
        return fail("intent_min_tasks", f"the request implies at least {expect.min_tasks} tasks; the DAG has {tasks}")
    return LevelResult(level=Level.INTENT, ok=True, message="the DAG shows what the request asked for")
