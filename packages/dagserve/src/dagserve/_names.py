"""Monitor-guided decoding of Python DAG files: what the file does when Airflow imports it must work.

A small model writes `extract >> load_task` where it defined `load`, `with TaskGroup(...)` it never imported,
`start >> hook` on an S3Hook, `a >> b >> a`, or two tasks with one id. The file parses, and fails at import. A
grammar cannot see which names exist or what they hold; a monitor reading the code as it is written can (Agrawal et
al., "Monitor-Guided Decoding of Code LMs with Static Analysis of Repository Context", NeurIPS 2023: a static-
analysis monitor that masks the tokens of identifiers not in scope raised small models' compilation rates).

`NameGuard` reads the answer's code block character by character: strings, comments, brackets, indentation, the
names the code binds (imports, assignments, `def`/`class`, `as`, `for` and `lambda` targets) and, where the code
shows it, what a name holds. Where the module runs (module level, a `with DAG` block, a `@dag` or `@task_group`
function's body), it refuses:

- a name that is loaded but not defined yet, nor a builtin or a keyword: after an operator (`=`, `>>`, `==`, `+`,
  `@` of a decorator, ...) or an expression keyword (`if`, `with`, `in`, `not`, ...); as a dict's value, or a
  list's member or a dict's key after a `,`; first in a dependency list (one that follows `>>`/`<<`); and a
  statement's first name unless the statement assigns it (`name =`, `name,`, `name:`);
- as an operand of `>>`/`<<`: a name holding a hook, a DAG, a datetime, a string or a number, a `@task` function
  never called (`extract` for `extract()`), and a task whose dependency would close a cycle;
- a `task_id="..."` string the DAG already has, outside task groups (whose ids are prefixed with the group's).

It errs on the side of allowing: nothing is checked inside a function's body (it runs when the task runs, not at
import), in a `def` header or `lambda` parameters except after `=`, in call arguments (a keyword's name looks like
a load until its `=`), inside strings and f-strings, or after `from m import *`; a name bound anywhere earlier
at module level counts as defined, and a name whose value it cannot read holds anything. The decoder asks
`allows(piece)` before it accepts a token and `accept(piece)` after (`dagserve._grammar.GuidedSampler`).
"""

from __future__ import annotations

import builtins
import keyword
from bisect import bisect_left, insort

_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_MODULE_NAMES = frozenset({"__file__", "__name__", "__doc__", "__spec__", "__package__", "__loader__", "__builtins__"})
_ALWAYS = _KEYWORDS | frozenset(dir(builtins)) | _MODULE_NAMES
_LOAD_AFTER = frozenset({"if", "elif", "else", "and", "or", "not", "in", "is", "with", "while", "assert"})
"""Keywords after which a name is evaluated where the statement runs (`except`'s class only when something is
raised, so it is not here)."""
_OPERATOR_CHARS = frozenset("=+-*/%<>&|^~@!:")
_NOT_TASKS = frozenset({"DAG", "Dataset", "Asset", "datetime", "date", "timedelta", "Variable", "Param", "Connection"})
"""Callees whose value is no task: `>>` on it fails when the DAG file is imported."""
_STRING_PREFIXES = frozenset({"r", "u", "f", "b", "rb", "br", "fr", "rf"})


class NameGuard:
    """One answer's monitor. `allows` tries text on a copy of the state; `accept` moves the state on."""

    __slots__ = (
        "_after_dot",
        "_assigned",
        "_binding",
        "_bodies",
        "_brackets",
        "_chain_dir",
        "_chain_left",
        "_chain_pos",
        "_checked",
        "_close_run",
        "_closing",
        "_code",
        "_comment",
        "_committing",
        "_decorated",
        "_done",
        "_edges",
        "_elem",
        "_escape",
        "_given_up",
        "_group_def",
        "_groups",
        "_head",
        "_head_call",
        "_head_state",
        "_id_text",
        "_ident",
        "_in_body",
        "_in_group",
        "_indent",
        "_kinds",
        "_kwarg",
        "_last_name",
        "_line",
        "_line_start",
        "_names",
        "_number",
        "_off",
        "_op",
        "_pending_eq",
        "_pending_first",
        "_prev",
        "_quote",
        "_quote_run",
        "_runs_at_import",
        "_sorted",
        "_stmt",
        "_stmt_edges",
        "_stmt_first",
        "_str_prefix",
        "_targets",
        "_task_ids",
        "_triple",
    )

    def __init__(self) -> None:
        self._names: set[str] = set(_ALWAYS)
        self._sorted: list[str] = sorted(self._names)
        self._off = False
        """`from m import *`: the names are unknown, so nothing is checked."""
        self._code = False
        self._done = False
        self._line = ""
        """The current line while outside the code block (to find its fence) or at its start (to find the end)."""
        self._quote = ""
        self._triple = False
        self._escape = False
        self._quote_run = 0
        """Quotes just seen outside a string: one opens a string, two are an empty one, three open a triple one."""
        self._close_run = 0
        self._comment = False
        self._number = False
        self._ident = ""
        self._checked = False
        """The identifier being written is a load that must be defined."""
        self._given_up = False
        self._op = ""
        self._prev = ""
        """The last complete token: an operator, a bracket, a keyword, `name`, `str` or `num`."""
        self._after_dot = False
        self._brackets: tuple[tuple[str, str], ...] = ()
        """Open brackets, each with what it holds: `dependency` (a list after `>>`/`<<`), `start` (one that starts
        the statement: targets, as in `[a, b] = ...`, or the first operand of a dependency) or nothing known."""
        self._line_start = True
        self._indent = 0
        self._bodies: tuple[int, ...] = ()
        """Indents of the `def` statements whose bodies are open."""
        self._in_body = False
        self._stmt = ""
        """The statement's first keyword (`def`, `class`, `import`, `from`, `lambda` while in its parameters)."""
        self._stmt_first = True
        self._pending_first = ""
        """An unknown name that starts a statement: fine if it is assigned, a NameError if it is loaded."""
        self._pending_eq = False
        self._targets: list[str] = []
        """Names at bracket depth 0 before the statement's first operator: bound if that is an assignment."""
        self._assigned: tuple[str, ...] = ()
        """Targets of the statement's `=`: bound when it ends (`x = f(x)` loads the `x` it has not yet bound)."""
        self._binding = ""
        """What the next names bind: `as`, `for`, `import`, `def`, `lambda`, `global`, or nothing."""
        self._committing = False
        self._kinds: dict[str, str] = {}
        """What a defined name holds, where the code shows it: `task` (an operator, a called `@task`, a task group),
        `taskfn` (a `@task`/`@task_group` function: a task only once called) or `other` (a hook, a DAG, a datetime,
        a string or a number). Unknown names have none."""
        self._edges: dict[str, set[str]] = {}
        """Dependencies set so far between named tasks (upstream -> downstream)."""
        self._decorated = ""
        """The kind of the `def` the decorators above it make."""
        self._head = ""
        """The dotted name a value starts with (`BashOperator`, `S3Hook`, `extract`), or `<literal>`."""
        self._head_state = 0
        """0: not read; 1: the value starts next; 2: reading its dotted name; 3: read."""
        self._head_call = False
        self._chain_pos = False
        self._closing: frozenset[str] = frozenset()
        """For an operand being written: the names that would close a dependency cycle."""
        """The name being written is an operand of `>>`/`<<` (or a member of a dependency list)."""
        self._chain_left: tuple[str, ...] | None = None
        """The names of the operand before the statement's last `>>`/`<<` (None: no dependency yet)."""
        self._chain_dir = ""
        self._elem: tuple[str, ...] = ()
        """The bare names of the operand being written (`a`, or `[a, b]`)."""
        self._stmt_edges: tuple[tuple[str, str], ...] = ()
        self._task_ids: set[str] = set()
        """The DAG's `task_id="..."` values outside task groups: a second task with one of them fails at import."""
        self._groups: tuple[int, ...] = ()
        """Indents of the open task group bodies (`with TaskGroup(...)`, a `@task_group` function): ids in them are
        prefixed with the group's, so they are not checked."""
        self._in_group = False
        self._group_def = False
        self._last_name = ""
        self._kwarg = ""
        """The keyword whose `=` came last (inside a call)."""
        self._id_text: str | None = None
        """The text of the `task_id` string being written, or None when the string is not one."""
        self._str_prefix = ""
        self._runs_at_import = False
        """The next `def` is decorated with `@dag` or `@task_group`: its body runs when the DAG file calls it."""

    # -- the decoder's side ---------------------------------------------------------------------------------------

    def allows(self, text: str) -> bool:
        """Whether the code can go on with `text` (a token's piece) without loading an undefined name."""
        if self._done or self._off or not text:
            return True
        trial = self._copy()
        return all(trial._feed(c) for c in text)

    def accept(self, text: str) -> None:
        """The text was written; an identifier it breaks is let through (the decoder found nothing better)."""
        if self._done or self._off:
            return
        self._committing = True
        try:
            for c in text:
                if not self._feed(c):
                    self._given_up = True
                    self._pending_first = ""
                    self._pending_eq = False
        finally:
            self._committing = False

    def give_up(self) -> None:
        """Stop checking the identifier being written (no allowed token was among the decoder's candidates)."""
        self._given_up = True

    def _copy(self) -> NameGuard:
        other = NameGuard.__new__(NameGuard)
        for name in NameGuard.__slots__:
            object.__setattr__(other, name, getattr(self, name))
        other._targets = list(self._targets)  # the only mutable field a trial changes; names change on commit only
        return other

    # -- the reading -------------------------------------------------------------------------------------------

    def _feed(self, c: str) -> bool:
        if not self._code:
            self._prose(c)
            return True
        if self._line_start and c == "`" and not self._quote:
            self._line += c
            if self._line == "```":
                self._done = True
            return True
        if self._quote or self._quote_run:
            ok = self._id_char(c)
            if self._in_string(c):
                return ok
        if self._comment:
            if c == "\n":
                self._comment = False
                return self._newline()
            return True
        if self._line_start:
            if c == " ":
                self._indent += 1
                return True
            if c == "\n":
                self._indent = 0
                return True
            if c == "\t":
                self._indent += 8
                return True
            self._line_start = False
            self._line = ""
            if c != "#":
                self._statement()
        ok = True
        if self._ident and not (c.isalnum() or c == "_"):
            ok = self._end_ident(c)
        elif self._number and not (c.isalnum() or c in "_."):
            self._number = False
            self._token("num")
        if self._op and c not in _OPERATOR_CHARS:
            ok = self._end_op() and ok
        if c.isalnum() or c == "_":
            if self._number:
                return ok
            if not self._ident and c.isdigit():
                self._number = True
                return ok
            return self._ident_char(c) and ok
        if c in "\"'":
            self._quote_run = 1
            self._quote = c
            named = self._prev == "=" and self._kwarg == "task_id" and "f" not in self._str_prefix.lower()
            self._id_text = "" if named and not (self._in_body or self._in_group) else None
            self._str_prefix = ""
            return ok
        if c in _OPERATOR_CHARS:
            return self._op_char(c) and ok
        if c == " ":
            return ok
        if c == "#":
            self._comment = True
            return ok
        if c == "\n":
            return self._newline() and ok
        return self._punct(c) and ok

    def _id_char(self, c: str) -> bool:
        """A character of a string that may be a `task_id`: False when it closes one the DAG already has."""
        text = self._id_text
        if text is None:
            return True
        if self._quote_run:
            if self._quote_run == 1 and c != self._quote:
                self._id_text = c
            elif self._quote_run == 2:
                self._id_text = None  # an empty or a triple-quoted string
            return True
        if c != self._quote or self._escape or self._triple:
            self._id_text = text + c
            return True
        self._id_text = None
        if text in self._task_ids:
            return False
        if self._committing:
            self._task_ids.add(text)
        return True

    def _prose(self, c: str) -> None:
        if c != "\n":
            self._line += c
            return
        if self._line.lstrip().startswith("```"):
            self._code = True
        self._line = ""

    def _in_string(self, c: str) -> bool:
        """Feed one character while a string opens or runs; False when `c` is not part of it."""
        q = self._quote
        if self._quote_run:
            if c == q and self._quote_run < 3:
                self._quote_run += 1
                if self._quote_run == 3:
                    self._quote_run, self._triple = 0, True
                return True
            run = self._quote_run
            self._quote_run = 0
            if run == 2:  # an empty string: `c` comes after it
                self._quote = ""
                self._token("str")
                return False
            self._triple = False
        if self._escape:
            self._escape = False
            return True
        if c == "\\":
            self._escape = True
            return True
        if c == q:
            if not self._triple:
                self._quote = ""
                self._token("str")
                return True
            self._close_run += 1
            if self._close_run == 3:
                self._quote, self._close_run = "", 0
                self._token("str")
            return True
        self._close_run = 0
        if c == "\n" and not self._triple:  # an unclosed string: the line ends it (it would not parse anyway)
            self._quote = ""
            return False
        return True

    def _statement(self) -> None:
        """A logical line starts at `self._indent`."""
        if self._brackets:
            return  # a line inside brackets continues the statement
        bodies = self._bodies
        while bodies and bodies[-1] >= self._indent:
            bodies = bodies[:-1]
        self._bodies = bodies
        self._in_body = bool(bodies)
        groups = self._groups
        while groups and groups[-1] >= self._indent:
            groups = groups[:-1]
        self._groups = groups
        self._in_group = bool(groups)
        self._stmt, self._stmt_first, self._targets, self._binding = "", True, [], ""
        self._prev, self._after_dot = "", False
        self._head_state, self._chain_left, self._chain_dir, self._elem, self._stmt_edges = 0, None, "", (), ()

    def _newline(self) -> bool:
        ok = True
        if self._pending_first:
            ok = self._first_used()
        if not self._brackets:
            for name in self._assigned:
                self._bind(name)
                self._set_kind(name, self._value_kind() if len(self._assigned) == 1 else "")
            self._assigned = ()
            self._link()
            if self._committing and not self._in_body:
                for up, down in self._stmt_edges:
                    self._edges.setdefault(up, set()).add(down)
            self._chain_left, self._elem, self._stmt_edges, self._head_state = None, (), (), 0
            if self._stmt == "with" and self._head_call:
                callee = self._head.split(".")[-1]
                if callee == "TaskGroup":
                    self._groups = (*self._groups, self._indent)
                elif callee == "DAG" and self._committing and not self._in_body:
                    self._task_ids.clear()  # another DAG: its task ids are its own
            if self._stmt == "def":
                if not self._runs_at_import:
                    self._bodies = (*self._bodies, self._indent)
                elif self._group_def:
                    self._groups = (*self._groups, self._indent)
                self._runs_at_import, self._decorated, self._group_def = False, "", False
            self._line_start, self._indent, self._line = True, 0, ""
            self._stmt = ""
        return ok

    def _token(self, kind: str) -> None:
        self._prev, self._after_dot, self._stmt_first = kind, False, False
        if self._head_state == 1:
            # a string or a number never takes `>>`; a list may hold tasks (`start >> [a, b]` is fine)
            self._head, self._head_state = ("<literal>" if kind in ("str", "num") else ""), 3
        elif self._head_state == 2:
            self._head_call, self._head_state = kind == "(", 3

    def _ident_char(self, c: str) -> bool:
        if not self._ident:
            self._checked = self._loaded()
            self._chain_pos = self._checked and self._operand()
            self._closing = self._cycle_closers() if self._chain_pos else frozenset()
            self._given_up = False
        self._ident += c
        if not self._checked or self._given_up:
            return True
        prefix, names = self._ident, self._sorted
        i = bisect_left(names, prefix)
        if not self._chain_pos:
            return i < len(names) and names[i].startswith(prefix)
        while i < len(names) and names[i].startswith(prefix):
            if self._operand_ok(names[i]):
                return True
            i += 1
        return False

    def _operand(self) -> bool:
        prev = self._prev
        return prev in (">>", "<<") or (
            prev in ("[", ",") and bool(self._brackets) and self._brackets[-1][1] == "dependency"
        )

    def _operand_ok(self, name: str) -> bool:
        """Whether `name` can be the next operand of the statement's dependencies: not a hook, a DAG or a literal
        (`>>` on them fails at import), and no cycle with the operand before it."""
        return self._kinds.get(name) != "other" and name not in self._closing

    def _cycle_closers(self) -> frozenset[str]:
        """The names that, as the next operand, would close a cycle with the operand before it: those names
        themselves, and every task upstream of them (for `>>`; downstream for `<<`). Read once per operand, not per
        candidate name."""
        left = self._chain_left or ()
        if not left:
            return frozenset()
        # `a >> n` closes a cycle when n already reaches a: walk the edges backwards from a (forwards for `<<`).
        backwards = self._chain_dir == ">>"
        step: dict[str, set[str]] = {}
        edges = [(u, d) for u, downs in self._edges.items() for d in downs] + list(self._stmt_edges)
        for up, down in edges:
            src, dst = (down, up) if backwards else (up, down)
            step.setdefault(src, set()).add(dst)
        seen, todo = set(left), list(left)
        while todo:
            for nxt in step.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def _loaded(self) -> bool:
        """Whether a name starting here is surely evaluated when the module is imported."""
        if self._after_dot or self._in_body or self._off:
            return False
        if (self._stmt == "def" and self._brackets) or self._stmt == "lambda":
            return self._prev == "="
        if self._stmt in ("import", "from", "class") or self._binding:
            return False
        prev = self._prev
        if prev in _LOAD_AFTER:
            return True
        if prev == ":" and self._brackets and self._brackets[-1][0] == "{":
            return True  # a dict's value
        if prev and prev[0] in _OPERATOR_CHARS:
            return prev != ":" and prev != "->"
        if prev == "," and self._brackets and self._brackets[-1][0] in "[{" and self._brackets[-1][1] != "start":
            return True  # a list's member or a dict's key after the first (the first may start a comprehension)
        return prev == "[" and bool(self._brackets) and self._brackets[-1][1] == "dependency"

    def _end_ident(self, c: str) -> bool:
        name, self._ident = self._ident, ""
        if c in "\"'" and name.lower() in _STRING_PREFIXES:
            self._str_prefix = name
            return True  # a string's prefix: f"...", r'...'
        ok = not self._checked or self._given_up or name in self._names
        if ok and self._chain_pos and not self._given_up:
            ok = self._operand_ok(name) and (self._kinds.get(name) != "taskfn" or c in "(.")
        if name not in _KEYWORDS and not self._after_dot and (not self._brackets or self._brackets[-1][0] == "["):
            self._elem = (*self._elem, name)  # an operand's name, unless a call or an attribute follows
        first = self._stmt_first
        self._word(name)
        if first and not self._in_body and name not in self._names and not (self._stmt or self._off):
            self._pending_first = name  # decided by what follows: `name =` binds it, `name(`/`name >>` loads it
        return ok

    def _word(self, name: str) -> None:
        """A complete identifier or keyword."""
        first = self._stmt_first
        self._stmt_first = False
        after_dot, prev = self._after_dot, self._prev
        self._prev, self._after_dot = (name if name in _KEYWORDS else "name"), False
        if prev == "@":
            self._runs_at_import = self._runs_at_import or name in ("dag", "task_group")
            self._group_def = self._group_def or name == "task_group"
            if name == "dag" and self._committing and not self._in_body:
                self._task_ids.clear()
            self._decorated = "taskfn" if name in ("task", "task_group") else "other" if name == "dag" else ""
        if self._head_state == 1:
            self._head, self._head_state = (name, 2) if name not in _KEYWORDS else ("", 3)
        elif self._head_state == 2:
            if after_dot:
                self._head += "." + name
            else:
                self._head_state = 3
        if name == "with":
            self._head_state, self._head, self._head_call = 1, "", False
        if after_dot:
            return
        if name not in _KEYWORDS:
            self._last_name = name
        if first and name in ("def", "class", "import", "from", "async", "with"):
            self._stmt = "def" if name == "async" else name
        if name == "as" and self._binding == "import":
            return  # `from m import a as b, c`: the import binds on
        if name in ("def", "class", "as", "for", "global", "nonlocal", "lambda"):
            self._binding = name
            if name == "lambda" and not self._stmt:
                self._stmt = "lambda"
            return
        if name == "import":
            self._binding = "import"
            return
        if name == "in" and self._binding == "for":
            self._binding = ""
            return
        if name in _KEYWORDS:
            return
        if self._binding:
            self._bind(name)
            if self._binding == "def":
                self._set_kind(name, self._decorated)
            elif self._binding == "as":
                self._set_kind(name, self._value_kind())
            elif self._binding != "import":
                self._set_kind(name, "")
            if self._binding in ("def", "class", "as"):
                self._binding = ""
        elif self._stmt == "def" and self._brackets and prev != "=":
            if self._runs_at_import:
                self._bind(name)  # a parameter of a `@dag` function, whose body is checked
        elif not self._brackets or self._brackets == (("[", "start"),) or self._brackets == (("(", "start"),):
            self._targets.append(name)  # `x = ...`, `[a, b] = ...`, `(a, b) = ...`

    def _bind(self, name: str) -> None:
        # A function's names are its own: one bound in a task's body is not defined where the DAG is built.
        if self._committing and not self._in_body and name not in self._names:
            self._names.add(name)
            insort(self._sorted, name)

    def _set_kind(self, name: str, kind: str) -> None:
        if not self._committing or self._in_body:
            return
        if kind:
            self._kinds[name] = kind
        else:
            self._kinds.pop(name, None)

    def _value_kind(self) -> str:
        """What the value read last (`x = <value>`, `with <value> as x`) holds, where its head shows it."""
        head, call = self._head, self._head_call
        if self._head_state < 2 or not head:
            return ""
        if head == "<literal>":
            return "other"
        parts = head.split(".")
        first, last = parts[0], parts[-1]
        if not call:
            return self._kinds.get(head, "") if len(parts) == 1 else ""
        if self._kinds.get(first) == "taskfn":
            return "task"  # extract(), extract.override(...)(), extract.expand(...)
        if last.endswith(("Operator", "Sensor")) or last in ("TaskGroup", "partial", "expand", "expand_kwargs"):
            return "task"
        if last.endswith("Hook") or last in _NOT_TASKS or first == "pendulum" or self._kinds.get(first) == "other":
            return "other"
        return ""

    def _link(self) -> None:
        """The operand just written ends: its names depend on the one before (by `>>` or `<<`)."""
        if self._chain_left is None:
            return
        pairs = [(u, d) if self._chain_dir == ">>" else (d, u) for u in self._chain_left for d in self._elem]
        self._stmt_edges = (*self._stmt_edges, *pairs)

    def _first_used(self) -> bool:
        """The statement's first name, unknown, was followed by something that loads it."""
        self._pending_first, self._pending_eq = "", False
        return False

    def _op_char(self, c: str) -> bool:
        ok = True
        if self._pending_first:
            if self._pending_eq:
                ok = self._first_used() if c == "=" else self._clear_first()
            elif c == "=":
                self._pending_eq = True
            elif c == ":":
                self._clear_first()
            else:
                ok = self._first_used()
        if self._op + c in (">>", "<<") and not self._brackets and self._chain_left is None and self._elem:
            # the statement's first operand: a hook, a DAG or a `@task` function never called cannot take `>>`
            ok = ok and not any(self._kinds.get(n) in ("other", "taskfn") for n in self._elem)
        self._op += c
        return ok

    def _clear_first(self) -> bool:
        self._pending_first, self._pending_eq = "", False
        return True

    def _end_op(self) -> bool:
        op, self._op = self._op, ""
        self._kwarg = self._last_name if op == "=" and self._brackets else ""
        ok = True
        if self._pending_eq:
            ok = self._clear_first() if op == "=" else self._first_used()
        if op == ":" and self._stmt == "lambda" and not self._brackets:
            self._stmt = ""
        if op == ":" and self._binding == "lambda":
            self._binding = ""
        if not self._brackets and op in (">>", "<<"):
            self._link()
            self._chain_left, self._chain_dir, self._elem = self._elem, op, ()
        elif not self._brackets:
            self._elem = ()
        if not self._brackets and (op == "=" or (op.endswith("=") and op not in ("==", "!=", "<=", ">="))):
            self._assigned = (*self._assigned, *self._targets)
            self._targets = []
            if op == "=":
                self._head_state, self._head, self._head_call = 1, "", False
        elif op == ":=" and self._targets:
            self._bind(self._targets[-1])
        if op == "*" and self._binding == "import":
            self._off = True
        if op not in ("=", ":", ":="):
            self._targets = []  # `a >> b`, `a == b`: loads, not targets (a `:` may be an annotation: `x: int = 1`)
        self._token(op)
        if op == "=" and not self._brackets:
            self._head_state = 1  # `_token` read the `=` itself as the value's start
        return ok

    def _punct(self, c: str) -> bool:
        ok = True
        if self._pending_first:
            ok = self._clear_first() if c == "," else self._first_used()
        if c in "(.[" and self._prev == "name" and self._elem:
            self._elem = self._elem[:-1]  # `extract()`, `group.tasks`, `steps[0]`: not the named task itself
        if c == ".":
            self._prev, self._after_dot = ".", True
            return ok
        if c in "([{":
            # `[a, b] = ...` binds: only a list after `>>`/`<<` is surely loaded
            held = "dependency" if c == "[" and self._prev in (">>", "<<") else "start" if self._stmt_first else ""
            self._brackets = (*self._brackets, (c, held))
        elif c in ")]}":
            self._brackets = self._brackets[:-1]
        elif c == "," and not self._brackets and self._binding in ("as",):
            self._binding = ""
        elif c == ";":
            self._newline()
            self._statement()
            return ok
        self._token(c)
        return ok
