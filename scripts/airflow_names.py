"""Write dagcore's table of the modules, names and trigger rules each Airflow series has (`airflow_names.json.xz`).

    uv run python scripts/airflow_names.py            # the series dageval judges on: 2.9.3 2.10.5 3.0.6 3.1.8
    uv run python scripts/airflow_names.py 3.1.8 2.10.5

Read from dageval's runtimes (a real install of each release with the providers dageval has installed there), by
parsing each module's source, never importing it. For each module under `airflow`: the names its top level binds
(definitions, assignments, imports), its `__all__`, its submodules, and, where it answers attribute lookups
lazily (`__getattr__`), the string keys of its module-level dicts (Airflow's `__lazy_imports`); a lazy module
without either is recorded as open (any name). Virtual modules a package registers with
`add_deprecated_classes({...})` are read from that call's literal, or the package is open. Providers the release
publishes but the runtime has not installed are open: the guard knows they exist, not what they hold. The
values of `TriggerRule`, which `trigger_rule=` checks when the DAG file is imported. And the keyword arguments each
operator and sensor class, `DAG`, `dag`, `Asset`, `Dataset` and `TaskGroup` accepts: these are the one part read by
importing, in the runtime's own Python (`_keywords_child.py`), since a class's accepted keywords run up its MRO.
"""

from __future__ import annotations

import argparse
import ast
import json
import lzma
import subprocess
import sys
from pathlib import Path

from dageval.providers import bundled, listed_by
from dageval.runtime import Runtime, provider_module

OUT = Path(__file__).parents[1] / "packages/dagcore/src/dagcore/airflow_names.json.xz"
RELEASES = ("2.9.3", "2.10.5", "3.0.6", "3.1.8")
# Where DAG files import these from (another library's `Dataset`, OpenLineage's, is not Airflow's).
_CALLABLES = {
    "airflow": ("DAG", "Dataset"),
    "airflow.models": ("DAG",),
    "airflow.models.dag": ("DAG",),
    "airflow.decorators": ("dag",),
    "airflow.datasets": ("Dataset",),
    "airflow.sdk": ("DAG", "dag", "Asset", "TaskGroup"),
    "airflow.utils.task_group": ("TaskGroup",),
}
_SITE = "import airflow, os; print(os.path.dirname(list(airflow.__path__)[0]))"


def _bound(tree: ast.Module) -> tuple[set[str], bool, set[str]]:
    """The names the module's top level binds, whether it defines `__getattr__`, and its lazy-map keys."""
    names: set[str] = set()
    lazy_keys: set[str] = set()
    lazy = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            lazy |= node.name == "__getattr__"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
            value = node.value
            if isinstance(value, ast.Dict) and value.keys and all(_string(k) for k in value.keys):
                lazy_keys.update(k.value for k in value.keys if isinstance(k, ast.Constant))
            is_all = any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
            if is_all and isinstance(value, ast.List | ast.Tuple):
                names.update(e.value for e in value.elts if isinstance(e, ast.Constant) and _string(e))
        elif isinstance(node, ast.Try | ast.If):
            for inner in (*node.body, *getattr(node, "orelse", [])):  # `try: import x / except: x = None`
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    names.update((a.asname or a.name).split(".")[0] for a in inner.names if a.name != "*")
    return names, lazy, lazy_keys


def _string(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _deprecated(tree: ast.Module) -> dict[str, list[str]] | None:
    """`add_deprecated_classes({"bash": {"BashOperator": "..."}}, ...)`: submodule -> names; None when the package
    calls it with anything but a literal (its virtual modules are then unknown)."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "add_deprecated_classes"
        ):
            continue
        mapping = node.args[0] if node.args else None
        if not isinstance(mapping, ast.Dict):
            return None
        for key, value in zip(mapping.keys, mapping.values, strict=True):
            if not (_string(key) and isinstance(value, ast.Dict)) or not all(_string(k) for k in value.keys):
                return None
            assert isinstance(key, ast.Constant)
            found[key.value] = [k.value for k in value.keys if isinstance(k, ast.Constant)]
    return found


def read_release(version: str) -> dict[str, object]:
    info = Runtime(version).ensure()
    site = Path(
        subprocess.run([str(info.python), "-c", _SITE], capture_output=True, text=True, check=True).stdout.strip()
    )
    modules: dict[str, list[str] | None] = {}
    children: dict[str, set[str]] = {}
    for path in sorted((site / "airflow").rglob("*.py")):
        parts = path.relative_to(site).with_suffix("").parts
        if any(p.startswith("__") and p != "__init__" for p in parts) or "tests" in parts:
            continue
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            modules[module] = None
            continue
        names, lazy, keys = _bound(tree)
        modules[module] = None if lazy and not keys and "__all__" not in names else sorted(names | keys - {"__all__"})
        if parts[-1] == "__init__":
            virtual = _deprecated(tree)
            if virtual is None:
                modules[module + ".*"] = None
            for sub, subnames in (virtual or {}).items():
                modules.setdefault(f"{module}.{sub}", sorted(subnames))
                children.setdefault(module, set()).add(sub)
        head, _, tail = module.rpartition(".")
        if head:
            children.setdefault(head, set()).add(tail)
    for package, subs in children.items():
        if modules.get(package) is not None:
            modules[package] = sorted(set(modules[package] or []) | subs)
    rules = site / "airflow/task/trigger_rule.py"  # Airflow 3.1 moved TriggerRule here from airflow.utils
    rules = rules if rules.is_file() else site / "airflow/utils/trigger_rule.py"
    published = set(bundled().get(version, [])) | set(listed_by(info.python))
    open_providers = sorted(m for m in map(provider_module, published) if m not in modules)
    return {
        "release": version,
        "modules": modules,
        "keywords": _keywords(info.python, modules),
        "open_providers": open_providers,
        "trigger_rules": _trigger_rules(ast.parse(rules.read_text(encoding="utf-8"))),
    }


def _keywords(python: Path, modules: dict[str, list[str] | None]) -> dict[str, dict[str, object]]:
    """The keyword arguments of every operator and sensor class, `DAG`, `dag`, `Asset`, `Dataset` and `TaskGroup`,
    as the runtime's own Python imports them (`_keywords_child.py`); callables that take any keyword are left out."""
    wanted = [
        [module, name] for module, names in _CALLABLES.items() for name in names if name in (modules.get(module) or [])
    ]
    wanted += [
        [module, name]
        for module, names in modules.items()
        if names is not None and {"operators", "sensors"} & set(module.split("."))
        for name in names
        if name.endswith(("Operator", "Sensor")) and name[:1].isupper() and not name.startswith("Base")
    ]
    child = Path(__file__).with_name("_keywords_child.py")
    found = json.loads(
        subprocess.run(
            [str(python), str(child)], input=json.dumps(wanted), capture_output=True, text=True, check=True
        ).stdout
    )
    if found.get("dag") is None and found.get("DAG") is not None:
        found["dag"] = found["DAG"]  # Airflow 3's `@dag(**kwargs)` hands them all to DAG
    return {name: spec for name, spec in sorted(found.items()) if spec is not None}


def _trigger_rules(tree: ast.Module) -> list[str]:
    """The values of `class TriggerRule(str, Enum)`: `ALL_SUCCESS = "all_success"`, ..."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TriggerRule":
            return sorted(
                n.value.value
                for n in node.body
                if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            )
    raise SystemExit("no TriggerRule class where Airflow keeps it: has it moved again?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="*", default=list(RELEASES))
    args = parser.parse_args()
    table = {
        "about": "Modules and names per Airflow series, read from real installs by scripts/airflow_names.py",
        "series": {".".join(r.split(".")[:2]): read_release(r) for r in args.releases},
    }
    tmp = OUT.with_suffix(".tmp")
    tmp.write_bytes(lzma.compress(json.dumps(table, sort_keys=True, separators=(",", ":")).encode()))
    tmp.replace(OUT)
    for series, found in table["series"].items():
        assert isinstance(found, dict)
        print(
            series, found["release"], len(found["modules"]), "modules", len(found["open_providers"]), "open providers"
        )
    print(OUT, OUT.stat().st_size, "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
