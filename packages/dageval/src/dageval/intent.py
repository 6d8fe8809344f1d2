"""Level 6, intent: does the DAG that Airflow really loaded show what the request asked for?

Validity alone rewards a model that answers every request with the same hello-world DAG. A benchmark row
says what its DAG must show (`Expect`); the import level's worker reports what Airflow loaded (`LoadedDag`:
the schedule, each task's operator class and bases, mapping, retries, callbacks, groups, params); this
module compares the two. A provider counts where the DAG uses it when it runs: a task's operator comes from it, or a
task's code calls what the file imports from it (an unused import, or a hook left at module level, does not).
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


def _provider_names(module: str) -> set[str]:
    """`airflow.providers.cncf.kubernetes.operators.pod` -> `cncf.kubernetes` and `cncf`; one level otherwise."""
    parts = module.split(".")
    if parts[:2] != ["airflow", "providers"] or len(parts) < 3:
        return set()
    return {parts[2], f"{parts[2]}.{parts[3]}"} if len(parts) > 3 else {parts[2]}


def used_providers(code: str, dags: list[LoadedDag] | None = None) -> set[str]:
    """The providers a file uses where its DAG runs: a loaded task's operator comes from one (`dags`), or a name it
    imports from one is loaded inside a function's body (a hook called in a `@task`, an operator's `execute` in a
    failure callback), directly or through a module-level name assigned from it (`hook = S3Hook()`, used in a task).

    An import alone does not count: it does nothing the request asked for, and a model that learned a provider's
    import line writes it whether or not its tasks use it (7 of 15 written dev answers that met their providers by
    import alone, 2026-12-06). Nor does a hook made and left at module level, where it runs only while Airflow
    parses the file. A load anywhere would let a decoding lever that makes answers write the requested class
    (dagserve's `must_load`, measured and reverted 2026-12-07: bench/README) count `SlackWebhookOperator` written
    outside every DAG."""
    found = {p for d in dags or [] for t in d.tasks for p in _provider_names(t.module)}
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return found
    bound: dict[str, set[str]] = {}  # a name the file binds by import -> the providers behind it
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                bound.setdefault(alias.asname or alias.name, set()).update(_provider_names(node.module))
        elif isinstance(node, ast.Import):
            for alias in node.names:  # `import airflow.providers.x.y` binds `airflow`; `as k` binds `k`
                name = alias.asname or alias.name.split(".")[0]
                bound.setdefault(name, set()).update(_provider_names(alias.name))
    for node in tree.body:  # `hook = S3Hook(...)` at module level: `hook` carries the provider into a task's body
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Attribute, ast.Name)):
            carried = set().union(*(bound.get(n.id, set()) for n in ast.walk(node.value) if isinstance(n, ast.Name)))
            for target in node.targets:
                if isinstance(target, ast.Name) and carried:
                    bound.setdefault(target.id, set()).update(carried)
    run_later = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    loaded = {
        n.id
        for f in run_later
        for stmt in (f.body if isinstance(f.body, list) else [f.body])
        for n in ast.walk(stmt)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return found.union(*(providers for name, providers in bound.items() if name in loaded))


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
    missing = sorted(set(expect.providers) - used_providers(code, dags))
    if missing:
        return fail("intent_provider", f"the request needs {', '.join(missing)}; the file does not use it")
    for feature in expect.features:
        if not any(_has(feature, d) for d in dags):
            return fail(f"intent_{feature}", f"the request asks for {feature.replace('_', ' ')}; the DAG has none")
    tasks = max(len(d.tasks) for d in dags)
    if expect.min_tasks is not None and tasks < expect.min_tasks:
        return fail("intent_min_tasks", f"the request implies at least {expect.min_tasks} tasks; the DAG has {tasks}")
    return LevelResult(level=Level.INTENT, ok=True, message="the DAG shows what the request asked for")
