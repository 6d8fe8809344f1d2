"""Which Airflow modules, names and trigger rules exist in a given series: read from real installs, never guessed.

A model that writes `from airflow.providers.amazon.redshift import ...`, `from airflow.sdk import EmptyOperator`
(Airflow 3 keeps it in the standard provider) or a provider Airflow does not publish has written a file that fails
at its first line. On the 200 written dev requests the 2026-12-07 Qwen2.5-Coder-0.5B model did so in 29 answers
(13 modules, 8 names, 8 providers that do not exist). `airflow_names.json.xz` holds, per series, every module under
`airflow` of a real install (Airflow, its task SDK and the providers dageval installs there) with the names each
binds, and the providers that release publishes but the install lacks (known to exist, their modules unknown: any
module under them is allowed). `scripts/airflow_names.py` writes it from dageval's runtimes.

`SeriesTable.refusal(statement)` says what is wrong with an import statement, complete or cut anywhere, so a
decoder can refuse the token that would make it wrong (`dagserve`'s version guard) and a checker can explain it.
Only names under `airflow` are checked; everything else (the standard library, pendulum, ...) is allowed.
`value_refusal(line)` does the same for `trigger_rule=` (5 of those 200 answers gave one the series lacks), and
`keyword_refusal(statement)` for the keyword arguments of operators, sensors, `DAG`, `Asset` and `TaskGroup` (23 of
the 200 answers that reached a real import, under the version guard, failed there on one they do not take).
"""

from __future__ import annotations

import json
import lzma
import re
from bisect import bisect_left
from functools import cache
from pathlib import Path

from pydantic import BaseModel

from dagcore.arguments import Argument, scan
from dagcore.version import AirflowVersion

TABLE = Path(__file__).with_name("airflow_names.json.xz")

_FROM = re.compile(r"from\s+(?P<module>[\w.]*)(?P<after>\s*)(?P<rest>.*)", re.S)
_IMPORT = re.compile(r"import\s+(?P<rest>.*)", re.S)
_TRIGGER_RULE = re.compile(r"""trigger_rule\s*=\s*(?:(["'])([^"'\n]*)(\1)?|TriggerRule\.([A-Z_]*))""")
_KEYWORD = re.compile(r"(?P<word>\w*)(?P<space>\s*)(?P<rest>.*)", re.S)


class Keywords(BaseModel):
    """What one callable (an operator or sensor class, `DAG`, `dag`, `Asset`, ...) takes by name."""

    keywords: list[str]
    positional: bool = False
    """It takes positional arguments too (`DAG("etl")`); operators take keywords only."""


class SeriesNames(BaseModel):
    """One series' modules as a real install of `release` has them."""

    release: str
    modules: dict[str, list[str] | None]
    """Module -> the names it binds (its submodules included); None: any name (it answers lookups lazily). A key
    ending in `.*` opens every module under that package (virtual modules made at import)."""
    open_providers: list[str] = []
    """Provider packages (`airflow.providers.mongo`) the release publishes that the install did not hold."""
    trigger_rules: list[str] = []
    """The values of `TriggerRule` (`all_success`, ...): `trigger_rule=` takes nothing else."""
    keywords: dict[str, Keywords] = {}
    """A callable's name -> the keyword arguments it accepts (up its classes' `__init__`s, to `BaseOperator`, which
    refuses the rest). Callables that take any keyword are not listed."""


class SeriesTable:
    """Lookups over one series' modules: complete and partial module paths and names."""

    def __init__(self, series: SeriesNames) -> None:
        self.release = series.release
        self.trigger_rules = frozenset(series.trigger_rules)
        self._names = {m: (None if n is None else frozenset(n)) for m, n in series.modules.items() if "*" not in m}
        self._sorted = sorted(self._names)
        opened = {m.removesuffix(".*") for m in series.modules if m.endswith(".*")} | set(series.open_providers)
        self._open_set = frozenset(opened)
        self._open = tuple(sorted(opened))
        self._keywords = {name: (frozenset(k.keywords), k.positional) for name, k in series.keywords.items()}

    @classmethod
    def for_version(cls, version: AirflowVersion | str) -> SeriesTable | None:
        """The table of `version`'s series; of the nearest series of its major when the table lacks it; None when
        it has no series of that major."""
        target = version if isinstance(version, AirflowVersion) else AirflowVersion(str(version))
        found = _series()
        same = [s for s in found if AirflowVersion(s).major == target.major]
        if not same:
            return None
        best = min(same, key=lambda s: (abs(AirflowVersion(s).minor - target.minor), s))
        return _table(best)

    def _opened(self, module: str) -> bool:
        """Whether `module` lies under a package whose modules are unknown."""
        parts = module.split(".")
        return any(".".join(parts[:n]) in self._open_set for n in range(1, len(parts) + 1))

    def module_exists(self, module: str) -> bool:
        return module in self._names or self._opened(module)

    def module_may_start(self, text: str) -> bool:
        """Whether some module (or an open package's) begins with `text`."""
        if self._opened(text):
            return True
        for listing in (self._sorted, self._open):
            i = bisect_left(listing, text)
            if i < len(listing) and listing[i].startswith(text):
                return True
        return False

    def names(self, module: str) -> frozenset[str] | None:
        """What `module` binds; None when any name may be there (or the module is not known)."""
        return None if self._opened(module) else self._names.get(module)

    def refusal(self, statement: str, *, complete: bool = True) -> str | None:
        """Why the import statement `statement` (one logical line, without its indent) names a module or a name
        this series lacks; None when it may be right. `complete=False`: the statement is cut where a model is
        writing it, and only what can no longer become right is refused."""
        statement = without_comments(statement)
        if m := _FROM.fullmatch(statement):
            module, cut = m["module"], not m["after"] and not m["rest"]
            if not _is_airflow(module):
                return None
            if cut and not complete:
                return (
                    None if self.module_may_start(module) else f"no module of Airflow {self.release} starts {module!r}"
                )
            if not self.module_exists(module):
                return f"{module} does not exist in Airflow {self.release} (nor in a provider it publishes)"
            return self._names_refusal(module, m["rest"], complete=complete)
        if m := _IMPORT.fullmatch(statement):
            items = [i.strip() for i in m["rest"].split(",")]
            for n, item in enumerate(items):
                module = item.split()[0] if item.split() else ""
                last = n == len(items) - 1 and not complete and module == item
                if not _is_airflow(module):
                    continue
                if last and not self.module_may_start(module):
                    return f"no module of Airflow {self.release} starts {module!r}"
                if not last and not self.module_exists(module):
                    return f"{module} does not exist in Airflow {self.release}"
        return None

    def value_refusal(self, line: str, *, complete: bool = True) -> str | None:
        """Why a line of code gives `trigger_rule=` a value this series lacks (a string or a `TriggerRule.` member);
        None when each it gives may be right. `complete=False`: the line is cut where a model is writing it."""
        if not self.trigger_rules or "trigger_rule" not in line:
            return None
        for m in _TRIGGER_RULE.finditer(line):
            if m[4] is not None:  # TriggerRule.ALL_DONE: ended where anything follows it
                value, ended = m[4].lower(), complete or m.end() < len(line)
            else:
                value, ended = m[2], m[3] is not None
            if value in self.trigger_rules if ended else any(r.startswith(value) for r in self.trigger_rules):
                continue
            return f"{m[0]} is none of Airflow {self.release}'s trigger rules"
        return None

    def keyword_refusal(self, code: str, *, complete: bool = True, known: frozenset[str] = frozenset()) -> str | None:
        """Why `code` passes a callable of this series an argument it does not take by that name
        (`DAG(deferrable=True)`, `S3CreateObjectOperator(bucket=...)`); None when each may be right. `complete=False`:
        the code is cut where a model is writing it. See `argument_refusal`."""
        for argument in scan(code)[0]:
            if (why := self.argument_refusal(argument, complete=complete, known=known)) is not None:
                return why
        return None

    def argument_refusal(
        self, argument: Argument, *, complete: bool = True, known: frozenset[str] = frozenset()
    ) -> str | None:
        """Why one argument (`dagcore.arguments.scan` finds them) cannot be right: a name that opens an argument of a
        listed callable must be one of its keywords, or, where it takes positional arguments, a name written before
        (`known`: `DAG(DAG_ID, ...)`), and no keyword may be given twice. A name the text ends with
        (`complete=False`) needs only to start one not given yet."""
        name, callee = argument.name, argument.callee
        if argument.follows == "keyword" and name in argument.given:
            return f"{callee}() is given {name!r} twice"  # a SyntaxError, whatever is called
        found = self._keywords.get(callee)
        if found is None:
            return None
        accepted, positional = found
        accepted -= argument.given
        if argument.follows == "end":
            if complete or any(k.startswith(name) for k in accepted):
                return None  # complete: what follows is on the next line
            if positional and any(k.startswith(name) for k in known):
                return None
            return f"{callee}() takes no argument starting {name!r} in Airflow {self.release}"
        if argument.follows == "keyword":
            ok = name in accepted
            return None if ok else f"{callee}() takes no keyword argument {name!r} in Airflow {self.release}"
        if positional:
            return None
        return f"{callee}() takes keyword arguments only, not {name!r}, in Airflow {self.release}"

    def _names_refusal(self, module: str, rest: str, *, complete: bool) -> str | None:
        word = _KEYWORD.fullmatch(rest)
        assert word is not None  # the pattern matches any text
        if not word["space"] and not complete:
            return None  # `import` still being written
        known = self.names(module)
        if word["word"] != "import" or known is None:
            return None  # not an import (the grammar judges that), or any name may be there
        items = word["rest"].replace("(", " ").replace(")", " ").replace("\\", " ").split(",")
        for n, item in enumerate(items):
            name, cut = (item.split() or [""])[0], n == len(items) - 1 and not complete
            if cut and item == item.rstrip() and " " not in item.strip():
                if name and not any(k.startswith(name) for k in known):
                    return f"{module} has no name starting {name!r} in Airflow {self.release}"
            elif name and name != "*" and name not in known:
                return f"cannot import {name} from {module} in Airflow {self.release}"
        return None


def _is_airflow(module: str) -> bool:
    """Whether `module` is under `airflow` (a cut `airfl` is not yet: it may become another library's name)."""
    return module == "airflow" or module.startswith("airflow.")


@cache
def _series() -> dict[str, SeriesNames]:
    data = json.loads(lzma.decompress(TABLE.read_bytes()))
    return {s: SeriesNames.model_validate(v) for s, v in data["series"].items()}


@cache
def _table(series: str) -> SeriesTable:
    return SeriesTable(_series()[series])


def series_known() -> list[str]:
    """The series the table holds (`2.9`, `2.10`, ...)."""
    return sorted(_series(), key=lambda s: (AirflowVersion(s).major, AirflowVersion(s).minor))


def without_comments(statement: str) -> str:
    """The statement without its comments and anything after a `;` (a module or name never holds `#` or `;`)."""
    lines = [line.split("#", 1)[0] for line in statement.split("\n")]
    return "\n".join(lines).split(";", 1)[0]
