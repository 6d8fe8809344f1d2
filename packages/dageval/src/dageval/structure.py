"""Levels 2 and 3: does it parse, and does it define a DAG with tasks, no cycle, unique ids, no test helpers?

Static, from the ast: what Airflow itself would reject at import is checked for real at level 5.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict

from dagcore import test_internal_imports
from dageval.models import Level, LevelResult


def syntax(code: str) -> tuple[ast.Module | None, LevelResult]:
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return None, LevelResult(
            level=Level.SYNTAX, ok=False, category="syntax_error", message=f"line {e.lineno}: {e.msg}"
        )
    except (ValueError, RecursionError) as e:
        return None, LevelResult(level=Level.SYNTAX, ok=False, category="syntax_error", message=str(e))
    return tree, LevelResult(level=Level.SYNTAX, ok=True)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def structure(tree: ast.Module) -> LevelResult:
    def fail(category: str, message: str) -> LevelResult:
        return LevelResult(level=Level.STRUCTURE, ok=False, category=category, message=message)

    nodes = list(ast.walk(tree))
    internal = test_internal_imports(tree)
    if internal:
        return fail("test_internals", f"imports Airflow's test helpers: {', '.join(internal)}")
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    decorated = [
        n
        for n in nodes
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        for d in n.decorator_list
        if _name(d.func if isinstance(d, ast.Call) else d) == "dag"
    ]
    if not any(_name(c.func) == "DAG" for c in calls) and not decorated:
        return fail("no_dag", "no DAG(...) or @dag-decorated function")
    task_functions = {
        n.name
        for n in nodes
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        for d in n.decorator_list
        if _base_name(d) == "task"
    }
    operator_calls = [c for c in calls if _is_operator(_callee_root(c.func))]
    if not operator_calls and not any(_callee_root(c.func) in task_functions for c in calls):
        return fail("no_tasks", "the DAG has no tasks (no operator and no @task call)")
    for block in _dag_blocks(tree):
        ids = [
            kw.value.value
            for c in block
            for kw in c.keywords
            if kw.arg == "task_id" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
        ]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            return fail("duplicate_task_id", f"task ids used twice in one DAG: {', '.join(duplicates)}")
    cycle = _cycle(tree)
    if cycle:
        return fail("cycle", "dependency cycle: " + " >> ".join(cycle))
    return LevelResult(level=Level.STRUCTURE, ok=True)


def _is_operator(name: str | None) -> bool:
    # "Transfer" is Airflow 1.x's suffix for transfer operators (HiveToDruidTransfer).
    return bool(name) and name.endswith(("Operator", "Sensor", "Transfer"))  # type: ignore[union-attr]


def _callee_root(func: ast.expr) -> str | None:
    """`BashOperator(...)` -> BashOperator; `BashOperator.partial(...)` / `extract.expand(...)` -> the base name."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name | ast.Attribute | ast.Call):
            inner = _callee_root(func.value.func if isinstance(func.value, ast.Call) else func.value)
            if inner and (_is_operator(inner) or func.attr in ("partial", "expand", "expand_kwargs", "override")):
                return inner
        return func.attr
    return None


def _scope_calls(node: ast.With) -> list[ast.Call]:
    return [c for stmt in node.body for c in ast.walk(stmt) if isinstance(c, ast.Call)]


def _dag_blocks(tree: ast.Module) -> list[list[ast.Call]]:
    """Operator calls grouped by the innermost `with DAG(...)` / `with TaskGroup(...)` block they are in.

    Task ids only have to be unique within one DAG, and a task group prefixes its tasks' ids, so a file
    with several DAGs or groups may reuse a literal id. Calls outside any block go by their `dag=` value.
    """
    scopes = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.With)
        and any(
            isinstance(i.context_expr, ast.Call) and _name(i.context_expr.func) in ("DAG", "TaskGroup") for i in n.items
        )
    ]
    owner: dict[int, int] = {}
    for index, scope in enumerate(scopes):  # ast.walk is breadth-first: inner scopes come later and win
        for call in _scope_calls(scope):
            owner[id(call)] = index
    groups: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_operator(_callee_root(node.func)):
            continue
        call = node
        if id(call) in owner:
            key = f"scope-{owner[id(call)]}"
        else:
            key = "dag=" + next((ast.unparse(k.value) for k in call.keywords if k.arg == "dag"), "")
        groups.setdefault(key, []).append(call)
    return list(groups.values())


def _base_name(decorator: ast.expr) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    while isinstance(target, ast.Attribute):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _operands(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [n.id for n in node.elts if isinstance(n, ast.Name)]
    return []


def _edges(node: ast.expr, graph: dict[str, set[str]]) -> list[str]:
    """Add the edges of a `a >> b << c` chain; return the names at its right end."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift | ast.LShift):
        left = _edges(node.left, graph)
        right = _operands(node.right) or _edges(node.right, graph)
        upstream, downstream = (left, right) if isinstance(node.op, ast.RShift) else (right, left)
        for a in upstream:
            graph[a].update(downstream)
        return right
    return _operands(node)


def _cycle(tree: ast.Module) -> list[str]:
    """A cycle among task variables wired with >>, <<, set_downstream/set_upstream or chain()."""
    graph: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr):
            _edges(node.value, graph)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            owner = node.func.value
            if isinstance(owner, ast.Name) and node.func.attr in ("set_downstream", "set_upstream"):
                others = _operands(node.args[0])
                for other in others:
                    if node.func.attr == "set_downstream":
                        graph[owner.id].add(other)
                    else:
                        graph[other].add(owner.id)
        if isinstance(node, ast.Call) and _name(node.func) == "chain":
            steps = [_operands(a) for a in node.args]
            for up, down in itertools.pairwise(steps):
                for a in up:
                    graph[a].update(down)
    # A name bound twice (`task = ...` in a loop, then again) stands for several tasks: its edges say
    # nothing certain about one task, so it is left out rather than reported as a cycle.
    bound = [t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    bound += [n.target.id for n in ast.walk(tree) if isinstance(n, ast.For) and isinstance(n.target, ast.Name)]
    ambiguous = {name for name in bound if bound.count(name) > 1}
    loop_bound = {
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.For | ast.While)
        for stmt in n.body
        for a in ast.walk(stmt)
        if isinstance(a, ast.Assign)
        for t in a.targets
        if isinstance(t, ast.Name)
    }
    ambiguous |= loop_bound
    graph = defaultdict(
        set, {a: {b for b in bs if b not in ambiguous} for a, bs in graph.items() if a not in ambiguous}
    )
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []
