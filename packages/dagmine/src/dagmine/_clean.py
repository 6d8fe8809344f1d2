"""Clean a DAG file with libcst: the same program, minus licence header, doc markers and test harness.

Airflow's system tests are real DAGs wrapped in a harness: a `watcher()` task, `get_test_run(dag)`,
a `SystemTestContextBuilder` task that hands out an env id and variables, and constants from test
helper modules. Removing the harness (and the imports only it used) and replacing test constants by
`os.environ.get(...)` with a readable default turns most of them back into DAGs a user could write.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence

import libcst as cst
from pydantic import BaseModel

from dagmine._internals import is_test_internal

_LICENCE = re.compile(r"Licensed to the Apache Software Foundation|Apache License, Version 2\.0")
_DOC_MARKER = re.compile(r"#\s*\[(?:START|END)\s+[\w.\-]+\]\s*$")
_TEST_PHASE = re.compile(r"#\s*TEST (?:SETUP|BODY|TEARDOWN)\b.*$")
# Harness callables: whatever uses them is scaffolding and goes.
_HARNESS = frozenset({"get_test_run", "watcher", "SystemTestContextBuilder"})
# Test constants that are not strings cannot become `os.environ.get(...)`.
_NOT_A_STRING = re.compile(r"DATE|ARGS|ARGUMENTS|CONFIG|PARAMS|TIMEOUT|_(?:INT|NUM|COUNT)$")
_ENV_PREFIX = re.compile(r"^(?:SYSTEM_TESTS?_)")
_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("ENV_ID", "dev"),
    ("ROLE_ARN", "arn:aws:iam::123456789012:role/airflow"),
    ("PROJECT", "my-project"),
    ("BUCKET", "my-bucket"),
    ("REGION", "us-east-1"),
    ("LOCATION", "us-central1"),
)


class CleanResult(BaseModel):
    code: str
    steps: list[str]
    """Cleaning steps that changed something, in a fixed order."""


def env_var_name(name: str) -> str:
    """`DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID` -> `GCP_PROJECT_ID`; `SYSTEM_TESTS_ENV_ID` -> `ENV_ID`."""
    parts = [p for p in name.removesuffix("_KEY").split("_") if p not in {"DEFAULT", "SYSTEM", "TEST", "TESTS"}]
    return "_".join(parts) or name


def readable_default(env_name: str) -> str:
    for key, value in _DEFAULTS:
        if key in env_name:
            return value
    return "my-" + env_name.lower().replace("_", "-")


def _string(value: str) -> cst.SimpleString:
    """A double-quoted literal, the way Airflow's own code writes strings."""
    return cst.SimpleString('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _environ_get(env_name: str) -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Attribute(value=cst.Name("os"), attr=cst.Name("environ")), attr=cst.Name("get")),
        args=[
            cst.Arg(_string(env_name)),
            cst.Arg(_string(readable_default(env_name))),
        ],
    )


class _Plan(BaseModel):
    """What the harness looks like in this file, found with ast before transforming."""

    harness: set[str]
    """Names whose every use is scaffolding: harness callables and names derived from them."""
    constants: dict[str, str]
    """Test constants to recover: local name -> environment variable name."""
    key_values: dict[str, str]
    """Names bound to string literals, to read `test_context[ROLE_ARN_KEY]` as `ROLE_ARN`."""
    test_imports: dict[str, str]
    """Every name imported from a test internal: local name -> module."""


def _plan(tree: ast.Module, recover: bool) -> _Plan:
    test_imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and is_test_internal(node.module):
            for alias in node.names:
                test_imports[alias.asname or alias.name] = node.module
    harness = {name for name in test_imports if name.split(".")[-1] in _HARNESS}
    key_values: dict[str, str] = {"ENV_ID_KEY": "ENV_ID"}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            key_values[node.targets[0].id] = node.value.value
    # Names assigned from harness expressions are harness too (`sys_test_context_task`, `test_context`),
    # except where they are only subscripted: `test_context[KEY]` is a value we recover.
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None]
    changed = True
    while changed:
        changed = False
        for node in assigns:
            assert node.value is not None
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                continue
            if _direct_names(node.value, harness) & harness:
                for target in targets:
                    assert isinstance(target, ast.Name)
                    if target.id not in harness:
                        harness.add(target.id)
                        changed = True
    constants: dict[str, str] = {}
    if recover:
        for name in test_imports:
            if name.isupper() and name not in key_values and not _NOT_A_STRING.search(name):
                constants[name] = env_var_name(name)
    return _Plan(harness=harness, constants=constants, key_values=key_values, test_imports=test_imports)


def _direct_names(node: ast.AST, subscript_ok: set[str]) -> set[str]:
    """Names used in `node`, not counting `X[...]` where X is in `subscript_ok`."""
    found: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id in subscript_ok:
            stack.append(sub.slice)
            continue
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        stack.extend(ast.iter_child_nodes(sub))
    return found


class _Cleaner(cst.CSTTransformer):
    def __init__(self, plan: _Plan, recover: bool) -> None:
        super().__init__()
        self.plan = plan
        self.recover = recover
        self.steps: Counter[str] = Counter()
        # Harness names met in the current simple statement (minus those removed from chains and
        # lists): a statement that still refers to the harness is scaffolding as a whole.
        self._hits: list[Counter[str]] = []

    # --- comments -------------------------------------------------------------------------------
    def leave_EmptyLine(
        self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine
    ) -> cst.EmptyLine | cst.RemovalSentinel:
        comment = updated_node.comment.value if updated_node.comment else ""
        if _DOC_MARKER.match(comment):
            self.steps["doc_markers"] += 1
            return cst.RemoveFromParent()
        if self.plan.harness and _TEST_PHASE.match(comment):
            self.steps["test_comments"] += 1
            return cst.RemoveFromParent()
        return updated_node

    def leave_TrailingWhitespace(
        self, original_node: cst.TrailingWhitespace, updated_node: cst.TrailingWhitespace
    ) -> cst.TrailingWhitespace:
        comment = updated_node.comment.value if updated_node.comment else ""
        if _DOC_MARKER.match(comment) or (self.plan.harness and _TEST_PHASE.match(comment)):
            self.steps["doc_markers"] += 1
            return updated_node.with_changes(comment=None, whitespace=cst.SimpleWhitespace(""))
        return updated_node

    # --- values recovered from the test context and test constants --------------------------------
    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        if isinstance(updated_node.value, cst.Name) and updated_node.value.value in self.plan.harness:
            key = self._key_name(updated_node)
            if key is not None:
                self.steps["test_context"] += 1
                return _environ_get(env_var_name(key))
        return updated_node

    def _key_name(self, node: cst.Subscript) -> str | None:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        key = node.slice[0].slice.value
        if isinstance(key, cst.SimpleString):
            value = key.evaluated_value
            return value if isinstance(value, str) else None
        if isinstance(key, cst.Name):
            return self.plan.key_values.get(key.value, key.value)
        return None

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # imported names are names, not references: pruned in leave_SimpleStatementLine

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        # `obj.NAME` is not a reference to the constant NAME: keep the attribute as written.
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if self._hits and updated_node.value in self.plan.harness:
            self._hits[-1][updated_node.value] += 1
        env_name = self.plan.constants.get(updated_node.value)
        if env_name is None:
            return updated_node
        self.steps["test_constants"] += 1
        return _environ_get(env_name)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        callee = updated_node.func
        if isinstance(callee, cst.Name) and callee.value == "get_test_env_id" and callee.value in self.plan.test_imports:
            self.steps["env_id"] += 1
            return _environ_get("ENV_ID")
        if self.recover and _is_environ_lookup(updated_node):
            return self._rename_env_lookup(updated_node)
        return updated_node

    def _rename_env_lookup(self, call: cst.Call) -> cst.Call:
        key = call.args[0].value
        assert isinstance(key, cst.SimpleString)
        value = key.evaluated_value
        if not isinstance(value, str) or not _ENV_PREFIX.match(value):
            return call
        env_name = env_var_name(value)
        self.steps["env_id"] += 1
        default = call.args[1:] or [cst.Arg(_string(readable_default(env_name)))]
        first = call.args[0].with_changes(value=_string(env_name))
        if len(call.args) == 1:
            first = first.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return call.with_changes(args=[first, *default])

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BaseExpression:
        # `os.environ.get("GCP_PROJECT", "my-project") or os.environ.get("GCP_PROJECT_ID", ...)`: the
        # recovered constant was the fallback; the left side's default now plays that role.
        left, right = updated_node.left, updated_node.right
        if (
            isinstance(updated_node.operator, cst.Or)
            and isinstance(left, cst.Call)
            and isinstance(right, cst.Call)
            and _is_environ_lookup(left)
            and _is_environ_lookup(right)
            and _names_constant(original_node.right, self.plan.constants)
        ):
            return left
        return updated_node

    # --- harness removal --------------------------------------------------------------------------
    def _is_harness(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name) and node.value in self.plan.harness:
            if self._hits:
                self._hits[-1][node.value] -= 1  # this use goes away with its chain element
            return True
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        self._hits.append(Counter())
        return True

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg | cst.RemovalSentinel:
        updated_node = updated_node.with_changes(keyword=original_node.keyword)
        if self._is_harness(updated_node.value):
            self.steps["test_context"] += 1
            return cst.RemoveFromParent()
        return updated_node

    def leave_Element(
        self, original_node: cst.Element, updated_node: cst.Element
    ) -> cst.Element | cst.RemovalSentinel:
        if self._is_harness(updated_node.value):
            self.steps["test_context"] += 1
            return cst.RemoveFromParent()
        return updated_node

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if isinstance(updated_node.operator, cst.RightShift | cst.LeftShift):
            if self._is_harness(updated_node.left):
                self.steps["test_context"] += 1
                return updated_node.right
            if self._is_harness(updated_node.right):
                self.steps["test_context"] += 1
                return updated_node.left
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        hits = {name for name, count in self._hits.pop().items() if count > 0}
        if hits:
            step = "test_run" if "get_test_run" in hits else "watcher" if "watcher" in hits else "test_context"
            self.steps[step] += 1
            return cst.RemoveFromParent()
        body: list[cst.BaseSmallStatement] = []
        for small in updated_node.body:
            if isinstance(small, cst.ImportFrom):
                small = self._prune_import(small)
                if small is None:
                    continue
            body.append(small)
        if not body:
            return cst.RemoveFromParent()
        return updated_node.with_changes(body=body)

    def _prune_import(self, node: cst.ImportFrom) -> cst.ImportFrom | None:
        if isinstance(node.names, cst.ImportStar) or node.relative:
            return node
        drop = self.plan.harness | set(self.plan.constants) | {"get_test_env_id", "ENV_ID_KEY"}
        kept = [
            alias
            for alias in node.names
            if not (
                isinstance(alias.name, cst.Name)
                and (alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else alias.name.value)
                in drop
                and self._from_test_module(node)
            )
        ]
        if len(kept) == len(node.names):
            return node
        self.steps["test_imports"] += 1
        if not kept:
            return None
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(names=kept)

    @staticmethod
    def _from_test_module(node: cst.ImportFrom) -> bool:
        module = node.module
        return module is not None and is_test_internal(_dotted(module))

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not updated_node.body:
            return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated_node


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _is_environ_lookup(call: cst.Call) -> bool:
    """`os.environ.get("K"...)` or `os.getenv("K"...)` with a literal key."""
    name = _dotted(call.func)
    return (
        name in {"os.environ.get", "os.getenv", "environ.get", "getenv"}
        and bool(call.args)
        and isinstance(call.args[0].value, cst.SimpleString)
    )


def _names_constant(node: cst.BaseExpression, constants: dict[str, str]) -> bool:
    return isinstance(node, cst.Name) and node.value in constants


def _strip_licence(module: cst.Module) -> tuple[cst.Module, bool]:
    """Drop the comment block of the Apache licence from the module header (and blank lines after it)."""
    header = list(module.header)
    comments = [i for i, line in enumerate(header) if line.comment and _LICENCE.search(line.comment.value)]
    if not comments:
        return module, False
    start = end = comments[0]
    while start > 0 and header[start - 1].comment and not header[start - 1].comment.value.startswith("#!"):
        if "coding" in header[start - 1].comment.value:  # keep a PEP 263 encoding line
            break
        start -= 1
    while end + 1 < len(header) and header[end + 1].comment:
        end += 1
    while end + 1 < len(header) and not header[end + 1].comment:
        end += 1
    return module.with_changes(header=header[:start] + header[end + 1 :]), True


def _bound_imports(tree: ast.Module) -> dict[str, ast.stmt]:
    bound: dict[str, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = node
    return bound


def _name_uses(tree: ast.Module) -> Counter[str]:
    uses: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            uses[node.id] += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            uses[node.value] += 1  # `__all__` entries and string annotations keep their import
    return uses


def _names_to_prune(before: ast.Module, after: ast.Module) -> set[str]:
    """Imports and module constants used before cleaning and unused after it: only the harness used them."""
    used_before, used_after = _name_uses(before), _name_uses(after)
    candidates = set(_bound_imports(after))
    for stmt in after.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if isinstance(stmt.value, ast.Constant):
                candidates.add(stmt.targets[0].id)
    assigned_after = Counter(
        n.id for n in ast.walk(after) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    )
    return {
        name
        for name in candidates
        if used_before[name] > assigned_after[name]
        and used_after[name] - assigned_after[name] <= 0
    }


def _alias_name(alias: cst.ImportAlias) -> str:
    if alias.asname and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return _dotted(alias.name).split(".")[0]


def _prune_line(line: cst.SimpleStatementLine, names: set[str]) -> cst.SimpleStatementLine | None:
    body: list[cst.BaseSmallStatement] = []
    for small in line.body:
        if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            kept = [a for a in small.names if _alias_name(a) not in names]
            if not kept:
                continue
            if len(kept) != len(small.names):
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=kept)
        elif (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and small.targets[0].target.value in names
        ):
            continue
        body.append(small)
    return line.with_changes(body=body) if body else None


def _prune(module: cst.Module, names: set[str]) -> cst.Module:
    """Drop module-level imports and constants named in `names` (only the harness used them)."""
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            pruned = _prune_line(stmt, names)
            if pruned is None:
                continue
            stmt = pruned
        body.append(stmt)
    return module.with_changes(body=body)


def _ensure_import_os(module: cst.Module) -> cst.Module:
    body = list(module.body)
    insert_at = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Import | cst.ImportFrom):
            small = stmt.body[0]
            if isinstance(small, cst.ImportFrom) and _dotted(small.module or cst.Name("_")) == "__future__":
                insert_at = i + 1
                continue
            insert_at = i
            break
        if i == 0 and isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr):
            insert_at = 1  # after the module docstring
    import_os = cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("os"))])])
    if insert_at < len(body):
        # Keep the blank lines and comments that led the statement we insert before.
        following = body[insert_at]
        leading: Sequence[cst.EmptyLine] = getattr(following, "leading_lines", ())
        import_os = import_os.with_changes(leading_lines=leading)
        body[insert_at] = following.with_changes(leading_lines=())
    body.insert(insert_at, import_os)
    return module.with_changes(body=body)


def _collapse_blank_lines(code: str, tree: ast.Module) -> str:
    """Removing statements can leave runs of blank lines; keep at most two, outside strings."""
    protected: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant | ast.JoinedStr) and node.end_lineno and node.end_lineno > node.lineno:
            protected.update(range(node.lineno, node.end_lineno + 1))
    out: list[str] = []
    blank_run = 0
    for number, line in enumerate(code.splitlines(keepends=True), start=1):
        if not line.strip() and number not in protected:
            blank_run += 1
            if blank_run > 2:
                continue
        else:
            blank_run = 0
        out.append(line)
    return "".join(out).lstrip("\n")


def clean(code: str, *, recover: bool = True) -> CleanResult:
    """Clean one DAG file. Raises `libcst.ParserSyntaxError` on code libcst cannot parse."""
    before = ast.parse(code)
    module = cst.parse_module(code)
    steps: list[str] = []
    module, stripped = _strip_licence(module)
    if stripped:
        steps.append("licence_header")
    plan = _plan(before, recover)
    cleaner = _Cleaner(plan, recover)
    module = module.visit(cleaner)
    steps.extend(sorted(cleaner.steps))
    code_out = module.code
    after = ast.parse(code_out)
    prune = _names_to_prune(before, after)
    if prune:
        module = _prune(module, prune)
        steps.append("unused_imports")
    introduced_os = any(s in cleaner.steps for s in ("test_context", "test_constants", "env_id"))
    if introduced_os and "os" not in _bound_imports(after):
        module = _ensure_import_os(module)
    if prune or introduced_os:
        code_out = module.code
        after = ast.parse(code_out)
    return CleanResult(code=_collapse_blank_lines(code_out, after), steps=steps)
