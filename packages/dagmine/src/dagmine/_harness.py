"""The system-test harness of one file: what it is (found with ast), and the transformer that removes it.

Airflow's system tests are real DAGs wrapped in a harness: a `watcher()` task, `get_test_run(dag)`,
a `SystemTestContextBuilder` task that hands out an env id and variables, and constants from test
helper modules. Removing the harness and replacing test constants by `os.environ.get(...)` with a
readable default turns most of them back into DAGs a user could write.
"""

from __future__ import annotations

import ast
import re
from collections import Counter

import libcst as cst
from pydantic import BaseModel

from dagcore import is_test_internal

DOC_MARKER = re.compile(r"#\s*\[(?:START|END)\s+[\w.\-]+\]\s*$")
TEST_PHASE = re.compile(r"#\s*TEST (?:SETUP|BODY|TEARDOWN)\b.*$")
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


def env_var_name(name: str) -> str:
    """`DEFAULT_GCP_SYSTEM_TEST_PROJECT_ID` -> `GCP_PROJECT_ID`; `SYSTEM_TESTS_ENV_ID` -> `ENV_ID`."""
    parts = [p for p in name.removesuffix("_KEY").split("_") if p not in {"DEFAULT", "SYSTEM", "TEST", "TESTS"}]
    return "_".join(parts) or name


def readable_default(env_name: str) -> str:
    for key, value in _DEFAULTS:
        if key in env_name:
            return value
    return "my-" + env_name.lower().replace("_", "-")


def _string(value: str, quote: str = '"') -> cst.SimpleString:
    """A double-quoted literal, the way Airflow's own code writes strings (single-quoted inside a "-f-string)."""
    return cst.SimpleString(quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote)


def _environ_get(env_name: str, quote: str = '"') -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Attribute(value=cst.Name("os"), attr=cst.Name("environ")), attr=cst.Name("get")),
        args=[
            cst.Arg(_string(env_name, quote)),
            cst.Arg(_string(readable_default(env_name), quote)),
        ],
    )


class Plan(BaseModel):
    """What the harness looks like in this file, found with ast before transforming."""

    harness: set[str]
    """Names whose every use is scaffolding: harness callables and names derived from them."""
    constants: dict[str, str]
    """Test constants to recover: local name -> environment variable name."""
    key_values: dict[str, str]
    """Names bound to string literals, to read `test_context[ROLE_ARN_KEY]` as `ROLE_ARN`."""
    test_imports: dict[str, str]
    """Every name imported from a test internal: local name -> module."""


def make_plan(nodes: list[ast.AST], recover: bool) -> Plan:
    """The harness of a file, from all its ast nodes (walked once by the caller)."""
    test_imports: dict[str, str] = {}
    key_values: dict[str, str] = {"ENV_ID_KEY": "ENV_ID"}
    assigns: list[ast.Assign | ast.AnnAssign] = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and is_test_internal(node.module):
            for alias in node.names:
                test_imports[alias.asname or alias.name] = node.module
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            assigns.append(node)
            value = node.value
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                key_values[node.targets[0].id] = value.value
    harness = {name for name in test_imports if name.split(".")[-1] in _HARNESS}
    # Names assigned from harness expressions are harness too (`sys_test_context_task`, `test_context`),
    # except where they are only subscripted: `test_context[KEY]` is a value we recover.
    changed = bool(harness)
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
    return Plan(harness=harness, constants=constants, key_values=key_values, test_imports=test_imports)


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


class HarnessRemover(cst.CSTTransformer):
    def __init__(self, plan: Plan, recover: bool) -> None:
        super().__init__()
        self.plan = plan
        self.recover = recover
        self.steps: Counter[str] = Counter()
        # Harness names met in the current simple statement (minus those removed from chains and
        # lists): a statement that still refers to the harness is scaffolding as a whole.
        self._hits: list[Counter[str]] = []
        self._fstring_quotes: list[str] = []

    def visit_FormattedString(self, node: cst.FormattedString) -> bool:
        self._fstring_quotes.append(node.quote[0])
        return True

    def leave_FormattedString(
        self, original_node: cst.FormattedString, updated_node: cst.FormattedString
    ) -> cst.FormattedString:
        self._fstring_quotes.pop()
        return updated_node

    def _quote(self) -> str:
        """The quote a new literal may use here: not the one of an enclosing f-string (before Python 3.12)."""
        return "'" if '"' in self._fstring_quotes else '"'

    # --- comments -------------------------------------------------------------------------------
    def leave_EmptyLine(
        self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine
    ) -> cst.EmptyLine | cst.RemovalSentinel:
        comment = updated_node.comment.value if updated_node.comment else ""
        if DOC_MARKER.match(comment):
            self.steps["doc_markers"] += 1
            return cst.RemoveFromParent()
        if self.plan.harness and TEST_PHASE.match(comment):
            self.steps["test_comments"] += 1
            return cst.RemoveFromParent()
        return updated_node

    def leave_TrailingWhitespace(
        self, original_node: cst.TrailingWhitespace, updated_node: cst.TrailingWhitespace
    ) -> cst.TrailingWhitespace:
        comment = updated_node.comment.value if updated_node.comment else ""
        if DOC_MARKER.match(comment) or (self.plan.harness and TEST_PHASE.match(comment)):
            self.steps["doc_markers"] += 1
            return updated_node.with_changes(comment=None, whitespace=cst.SimpleWhitespace(""))
        return updated_node

    # --- values recovered from the test context and test constants --------------------------------
    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        if isinstance(updated_node.value, cst.Name) and updated_node.value.value in self.plan.harness:
            key = self._key_name(updated_node)
            if key is not None:
                if self._hits:  # this use of the harness name is replaced, not kept
                    self._hits[-1][updated_node.value.value] -= 1
                self.steps["test_context"] += 1
                return _environ_get(env_var_name(key), self._quote())
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
        return _environ_get(env_name, self._quote())

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if (
            updated_node.args
            and len(updated_node.args) < len(original_node.args)
            and original_node.args[-1].comma is cst.MaybeSentinel.DEFAULT
        ):
            last = updated_node.args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            updated_node = updated_node.with_changes(args=[*updated_node.args[:-1], last])
        callee = updated_node.func
        if (
            isinstance(callee, cst.Name)
            and callee.value == "get_test_env_id"
            and callee.value in self.plan.test_imports
        ):
            self.steps["env_id"] += 1
            return _environ_get("ENV_ID", self._quote())
        if self.recover and is_environ_lookup(updated_node):
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
        default = call.args[1:] or [cst.Arg(_string(readable_default(env_name), self._quote()))]
        first = call.args[0].with_changes(value=_string(env_name, self._quote()))
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
            and is_environ_lookup(left)
            and is_environ_lookup(right)
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

    def leave_Element(self, original_node: cst.Element, updated_node: cst.Element) -> cst.Element | cst.RemovalSentinel:
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
        for before, small in zip(original_node.body, updated_node.body, strict=False):
            if isinstance(small, cst.ImportFrom):
                pruned = self._prune_import(small)
                if pruned is None:
                    continue
                small = pruned
            if (
                isinstance(small, cst.Expr)
                and isinstance(small.value, cst.Name)
                and isinstance(before, cst.Expr)
                and isinstance(before.value, cst.BinaryOperation)
            ):
                continue  # `test_context >> task` became a bare `task`: a statement with no effect
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
                and (
                    alias.asname.name.value
                    if alias.asname and isinstance(alias.asname.name, cst.Name)
                    else alias.name.value
                )
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
        return module is not None and is_test_internal(dotted(module))

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not updated_node.body:
            return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated_node


def dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


def is_environ_lookup(call: cst.Call) -> bool:
    """`os.environ.get("K"...)` or `os.getenv("K"...)` with a literal key."""
    name = dotted(call.func)
    return (
        name in {"os.environ.get", "os.getenv", "environ.get", "getenv"}
        and bool(call.args)
        and isinstance(call.args[0].value, cst.SimpleString)
    )


def _names_constant(node: cst.BaseExpression, constants: dict[str, str]) -> bool:
    return isinstance(node, cst.Name) and node.value in constants
