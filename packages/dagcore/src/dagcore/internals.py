"""Airflow's test internals: modules of its test suites that no user's DAG can import.

One rule for the miner (which cleans them out), the dataset (which rejects what is left) and the judge."""

from __future__ import annotations

import ast

# Top-level packages that only exist inside Airflow's source tree, for its own tests.
_TEST_ROOTS = frozenset(
    {"tests", "tests_common", "system", "unit", "integration", "kubernetes_tests", "docker_tests", "helm_tests"}
)
# A component that marks a test package anywhere in a dotted path (`providers.google.tests.system...`).
_TEST_PARTS = frozenset({"tests", "tests_common", "test_utils"})


def is_test_internal(module: str) -> bool:
    """True for `tests...`, `tests_common...`, `dev.tests_common...`, `system...` and the like."""
    parts = module.split(".")
    if parts[0] in _TEST_ROOTS:
        return True
    if parts[0] == "dev" and len(parts) > 1 and parts[1] in _TEST_PARTS:
        return True
    return any(part in _TEST_PARTS for part in parts[1:])


def imported_modules(tree: ast.AST) -> list[str]:
    """Every absolute module a tree imports, anywhere in it (functions included)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_internal_imports(tree: ast.AST) -> list[str]:
    """The test-internal modules a tree imports, sorted and distinct."""
    return sorted({m for m in imported_modules(tree) if is_test_internal(m)})
