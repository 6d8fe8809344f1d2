"""Run by a runtime's own Python (`scripts/airflow_names.py`): the keyword arguments each named callable accepts.

Reads `[[module, name], ...]` as JSON on stdin, imports each, and prints `{name: {"keywords": [...], "positional":
bool} | null}`. A class accepts the parameters of its `__init__` and, while that ends in `**kwargs`, those of the
next `__init__` up its MRO; Airflow's `BaseOperator` closes the chain (it refuses the keywords left in `**kwargs`).
null: the chain never closes (any keyword may be right); a name that imports from none of its modules is left
out. A name bound to different
callables in different modules gets the union, or null if any of them is open.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import sys
import warnings
from typing import Any

_CLOSED = {"BaseOperator"}  # Airflow raises on a keyword left in its **kwargs


def _params(function: Any) -> tuple[list[str], bool, bool] | None:
    """(names, takes **kwargs, takes a positional argument) of a callable's signature, `self` left out."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    names, var_keyword, positional = [], False, False
    for n, p in enumerate(signature.parameters.values()):
        if n == 0 and p.name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
            positional |= p.kind is p.POSITIONAL_OR_KEYWORD
        elif p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            positional = True
    return names, var_keyword, positional


def accepted(thing: Any) -> dict[str, Any] | None:
    if not isinstance(thing, type):
        found = _params(thing)
        return None if found is None or found[1] else {"keywords": sorted(found[0]), "positional": found[2]}
    keywords: set[str] = set()
    positional: bool | None = None
    for klass in thing.__mro__:
        if klass is object:
            return None  # **kwargs all the way up: anything goes
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        found = _params(init)
        if found is None:
            return None
        names, var_keyword, takes_positional = found
        keywords.update(names)
        positional = takes_positional if positional is None else positional
        if not var_keyword or (klass.__name__ in _CLOSED and "task_id" in names):  # 3.0 wraps it in `(**kwargs)`
            return {"keywords": sorted(keywords), "positional": bool(positional)}
    return None


def main() -> None:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    result: dict[str, Any] = {}
    for module, name in json.load(sys.stdin):
        try:
            thing = getattr(importlib.import_module(module), name)
        except Exception:  # an optional dependency missing, a deprecated module that raises: another may hold it
            continue
        found = accepted(thing)
        if name in result and (result[name] is None or found is None):
            result[name] = None
        elif name in result:
            both = set(result[name]["keywords"]) | set(found["keywords"])  # type: ignore[index]
            result[name] = {"keywords": sorted(both), "positional": result[name]["positional"] or found["positional"]}  # type: ignore[index]
        else:
            result[name] = found
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
