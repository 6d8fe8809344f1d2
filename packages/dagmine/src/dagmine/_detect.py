"""Is this file a DAG file, by what its code does? And what does static analysis say about it.

A file is a DAG file when running it defines a DAG: a `DAG(...)` call or `with DAG(...)` reached
from module level, a `@dag`-decorated function called at module level, or a module-level call of a
function of the file that builds one (a DAG factory). Code only inside functions that never run
at import (a test case building DAGs) does not count.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from dagmine.models import DagInfo

# Cheap byte-level gate before parsing. The ast rules below need a call `DAG(` (or `x.DAG(`), an aliased
# import `DAG as X`, a `@dag` decorator, a `dag(...)` call or `dag as d`: a file with none of these
# cannot pass them, so it is not parsed at all.
_PREFILTER = re.compile(rb"\bDAG\s*\(|\bDAG\s+as\b|@\s*(?:[\w.]+\.)?dag\b|\bdag\s*\(|\bdag\s+as\b")


def may_define_dag(data: bytes) -> bool:
    """False only for files that cannot define a DAG; the substring test first, as the regex is 25x slower."""
    return (b"DAG" in data or b"dag" in data) and _PREFILTER.search(data) is not None


_OPERATOR_NAME = re.compile(r"[A-Z]\w*(?:Operator|Sensor)(?:Async)?$")
_DAG_CLASS_MODULES = ("airflow", "airflow.models", "airflow.models.dag", "airflow.sdk", "airflow.sdk.definitions.dag")
_DAG_DECORATOR_MODULES = ("airflow.decorators", "airflow.sdk", "airflow.sdk.definitions.dag", "airflow.models.dag")
_TASK_DECORATOR_MODULES = ("airflow.decorators", "airflow.sdk")


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class _Names:
    """Local names that refer to Airflow's DAG class, dag decorator and task decorator."""

    def __init__(self, tree: ast.Module) -> None:
        self.dag_class = {"DAG"}
        self.dag_decorator = {"dag"}
        self.task_decorator = {"task"}
        # Imports that bind these names run at import time: module level is enough, and far cheaper
        # than walking every node of a large test module.
        for node in _module_level(tree.body):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name == "DAG" and node.module in _DAG_CLASS_MODULES:
                        self.dag_class.add(local)
                    elif alias.name == "dag" and node.module in _DAG_DECORATOR_MODULES:
                        self.dag_decorator.add(local)
                    elif alias.name == "task" and node.module in _TASK_DECORATOR_MODULES:
                        self.task_decorator.add(local)

    def is_dag_call(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and _callee_name(node.func) in self.dag_class

    def is_dag_decorator(self, deco: ast.expr) -> bool:
        target = deco.func if isinstance(deco, ast.Call) else deco
        return _callee_name(target) in self.dag_decorator

    def is_task_decorator(self, deco: ast.expr) -> bool:
        # `@task`, `@task(...)`, `@task.bash(...)`: the base name is the task decorator (not `@task_group`).
        target = deco.func if isinstance(deco, ast.Call) else deco
        while isinstance(target, ast.Attribute):
            target = target.value
        return isinstance(target, ast.Name) and target.id in self.task_decorator


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import: the body and compound blocks in it, not function or class bodies."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(stmt, field, []))
        for handler in getattr(stmt, "handlers", []):
            yield from _module_level(handler.body)
        for case in getattr(stmt, "cases", []):
            yield from _module_level(case.body)


def shallow_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Nodes of one statement's own expressions, without descending into nested statements."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt | ast.Lambda):
                continue
            stack.append(child)


def _dag_calls(tree: ast.Module, names: _Names) -> list[ast.Call]:
    """DAG constructor calls that run at import, directly, via a called `@dag` function or a factory."""
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
    dag_functions = {name for name, f in functions.items() if any(names.is_dag_decorator(d) for d in f.decorator_list)}
    factory_calls: dict[str, list[ast.Call]] = {}

    def factory(name: str) -> list[ast.Call]:
        # Only functions called at module level are looked into, each once.
        if name not in factory_calls:
            factory_calls[name] = [n for n in ast.walk(functions[name]) if names.is_dag_call(n)]  # type: ignore[misc]
        return factory_calls[name]

    calls: list[ast.Call] = []
    for stmt in _module_level(tree.body):
        for node in shallow_nodes(stmt):
            if not isinstance(node, ast.Call):
                continue
            callee = _callee_name(node.func)
            if names.is_dag_call(node):
                calls.append(node)
            elif callee in dag_functions:
                calls.append(_decorator_as_call(functions[callee], names))
            elif callee in functions:
                calls.extend(factory(callee))
    return calls


def _decorator_as_call(func: ast.FunctionDef | ast.AsyncFunctionDef, names: _Names) -> ast.Call:
    """The `@dag(...)` decorator seen as a DAG call whose default dag_id is the function's name."""
    for deco in func.decorator_list:
        if names.is_dag_decorator(deco):
            call = deco if isinstance(deco, ast.Call) else ast.Call(func=deco, args=[], keywords=[])
            if not any(k.arg == "dag_id" for k in call.keywords) and not call.args:
                call = ast.Call(
                    func=call.func, args=[], keywords=[*call.keywords, ast.keyword("dag_id", ast.Constant(func.name))]
                )
            return call
    raise AssertionError("caller checked the decorator")


def is_dag_module(tree: ast.Module) -> bool:
    return bool(_dag_calls(tree, _Names(tree)))


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to string literals (`DAG_ID = "example_s3"`)."""
    found: dict[str, str] = {}
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            found[stmt.targets[0].id] = stmt.value.value
    return found


def _literal_str(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _argument(call: ast.Call, keyword: str, position: int | None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def analyze(tree: ast.Module) -> DagInfo | None:
    """Static facts about a DAG file (ids, tasks, operators, imports, schedule, docstring); None if no DAG."""
    names = _Names(tree)
    calls = _dag_calls(tree, names)
    if not calls:
        return None
    constants = _string_constants(tree)
    dag_ids: list[str] = []
    for call in calls:
        dag_id = _literal_str(_argument(call, "dag_id", 0), constants)
        if dag_id is not None and dag_id not in dag_ids:
            dag_ids.append(dag_id)

    # One walk over the tree, then filters: ast.walk is the expensive part on large files.
    nodes = list(ast.walk(tree))
    task_functions = {
        node.name
        for node in nodes
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(names.is_task_decorator(d) for d in node.decorator_list)
    }
    operators: set[str] = set()
    task_count = 0
    imports: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            callee = _callee_name(node.func)
            if callee and _OPERATOR_NAME.match(callee):
                operators.add(callee)
                task_count += 1
            elif callee in task_functions:
                task_count += 1
        elif isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.add(node.module)

    schedule: str | None = None
    docstring = ast.get_docstring(tree)
    first = calls[0]
    for key in ("schedule", "schedule_interval", "timetable"):
        value = _argument(first, key, None)
        if value is not None:
            schedule = ast.unparse(value)
            break
    if docstring is None:
        docstring = _literal_str(_argument(first, "doc_md", None), constants)

    return DagInfo(
        dag_ids=dag_ids,
        task_count=task_count,
        operators=sorted(operators),
        imports=sorted(imports),
        schedule=schedule,
        docstring=docstring,
    )
