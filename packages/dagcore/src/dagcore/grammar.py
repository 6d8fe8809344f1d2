"""A GBNF grammar for the answer: one fenced block of Python that parses, for llama.cpp's grammar sampler.

A 135M model's most common way to fail is code that does not parse (an unclosed bracket, a string broken by a quote,
a line at the wrong indentation). Decoded under this grammar, the model can only write text that opens the
contract's fence, holds Python statements nested by four spaces, closes every bracket and string, and ends at the
closing fence. It is a subset of Python, written for DAG files: imports, assignments, calls, `with`, `def`, `class`,
decorators, `if`/`for`/`while`/`try`, comprehensions, lambdas, f-strings (their fields unchecked), comments and
blank lines; not `match`, tabs, or more than `MAX_DEPTH` levels of nesting. Only what Python can assign to is
assigned to (`a >> b = c` and `f(): int` are refused where they break). A `schedule=` (or `schedule_interval=`)
keyword argument given as a string holds one of Airflow's presets or a five-field cron expression (`SCHEDULE_PRESETS`;
on the written dev set 8 of 96 answers failed on `@morning`, `@default` or a four-field cron), and otherwise a value
that is not a string (`None`, a list of assets, a call). Given the user's request, `schedule=` takes only the
schedule the request asks for, where `dagcore.asked_schedule` reads one (`0 5 * * *` for "daily at 5am"); given its
Airflow version too, a request that names a provider's service ("into Snowflake") is answered by a file that opens
with the import block composed files open with, the provider's line in it (`opening_imports`).

Some rules are stricter than Python, against the loops a small model falls into under a grammar (23 of 200 written
dev answers ran to the token limit). A decorator is followed by the `def` or `class` it decorates, at most
`MAX_DECORATORS` deep, and `@` is not an operator (DAG files multiply no matrices; inside an open bracket a model
wrote `@task` line after line as matrix products). At most 24 blank or comment lines follow each other, and 7 comments
one stretch of whitespace inside brackets. The last string of an expression does not end in a space unless it is
only spaces, so `bash_command="echo "Report ready."` cannot close at `"echo "` and go on as `"echo "".join(...)`. Where
Python only finds out when it compiles, the grammar refuses at once: a positional argument after a keyword one (the
model's `mode=="full"`), a brace that mixes `key: value` pairs and set members, bytes (`"a" b"b"` cannot be
joined). The price: `print("rows: ", n)` is refused (3 of the laptop dataset's 1,657 answers write one), and the
model writes `"rows:"` instead. It does not pair an `else` with its `if` or keep keywords out of names, so a few texts
it accepts still do not compile; tests keep real DAG files in and broken code out. The grammar constrains form, not
names: it cannot know whether `timedelta` was imported.

Two whitespace modes, as Python's tokenizer has: on a logical line, only spaces (and a backslash line join) separate
tokens; inside brackets, line breaks and comments do too. Each expression rule is written once per mode.
llama.cpp's parser has no lookahead and keeps every live alternative, so rules are written to decide early (no left
recursion; keywords that start a statement are followed by a space).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from dagcore.asked import PRESET_CRON, asked_imports, asked_schedule
from dagcore.contract import DEFAULT_CONTRACT, PromptContract
from dagcore.names import import_notes
from dagcore.version import AirflowVersion

MAX_DEPTH = 6
"""Levels of nested blocks the grammar allows (24 spaces): a DAG file seldom goes past four."""

MAX_DECORATORS = 4
"""Decorators stacked on one `def` or `class` (`@task.virtualenv(...)` over `@some_wrapper` is two)."""

SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
"""The schedule strings Airflow 2.9-3.1 takes besides cron (its timetable presets)."""
_SCHEDULE_WORDS = ("schedule", "schedule_interval")

_COMMON = r"""
name ::= [a-zA-Z_] [a-zA-Z0-9_]*
number ::= ( [0-9] [0-9_]* ( "." [0-9_]* )? | "." [0-9] [0-9_]* ) ( [eE] [+-]? [0-9]+ )? [jJ]? |
  "0" [xXoObB] [0-9a-fA-F_]+
string ::= string-prefix? ( long-dq | long-sq | short-dq | short-sq )
string-last ::= string-prefix? ( long-dq | long-sq | short-dq-last | short-sq-last )
string-prefix ::= [rRfFuU] | [rR] [fF] | [fF] [rR]
short-dq ::= "\"" dq-char* "\""
short-sq ::= "'" sq-char* "'"
short-dq-last ::= "\"" ( " "* | dq-char* ( [^"\\\n ] | escape ) ) "\""
short-sq-last ::= "'" ( " "* | sq-char* ( [^'\\\n ] | escape ) ) "'"
dq-char ::= [^"\\\n] | escape
sq-char ::= [^'\\\n] | escape
escape ::= "\\" [^\n] | "\\\n"
long-dq ::= "\"\"\"" ( [^"\\] | "\\" [^\x00] | "\"" [^"\\] | "\"\"" [^"\\] )* "\"\"\""
long-sq ::= "'''" ( [^'\\] | "\\" [^\x00] | "'" [^'\\] | "''" [^'\\] )* "'''"
comment ::= "#" [^\n]*
sp ::= ( " " | "\\\n" )*
sp1 ::= ( " " | "\\\n" )+
ws ::= [ \n]* ( comment [ \n]* ){0,6}
ws1 ::= ( [ \n] | comment ) ws
eol ::= sp comment? "\n"
blank ::= " "* comment? "\n"
blanks ::= blank{0,24}
augop ::= "+=" | "-=" | "*=" | "/=" | "//=" | "%=" | "**=" | ">>=" | "<<=" | "&=" | "|=" | "^="
binop ::= "+" | "-" | "*" | "/" | "//" | "%" | "**" | ">>" | "<<" | "&" | "|" | "^"
compop ::= "==" | "!=" | "<=" | ">=" | "<" | ">"
"""

# One copy per whitespace mode: {m} names the mode (l: a logical line, b: inside brackets), {s}/{s1} its optional and
# required separators. Everything inside a bracket is in mode b, whatever mode the bracket opened in.
_EXPRESSION = r"""
expr-{m} ::= lambda-{m} | test-{m}
test-{m} ::= or-{m} ( {s1} "if" {s1} or-{m} {s1} "else" {s1} expr-{m} )? | name {s} ":=" {s} expr-{m}
lambda-{m} ::= "lambda" ( {s1} lparams-{m} )? {s} ":" {s} expr-{m}
lparams-{m} ::= lparam-{m} ( {s} "," {s} lparam-{m} )* ( {s} "," )?
lparam-{m} ::= "*" | "/" | ( "*" | "**" )? name ( {s} "=" {s} expr-{m} )?
or-{m} ::= and-{m} ( {s1} "or" {s1} and-{m} )*
and-{m} ::= not-{m} ( {s1} "and" {s1} not-{m} )*
not-{m} ::= "not" {s1} not-{m} | comparison-{m}
comparison-{m} ::= arith-{m} ( {s} compop {s} arith-{m} |
  {s1} ( "in" | "not" {s1} "in" | "is" | "is" {s1} "not" ) {s1} arith-{m} )*
arith-{m} ::= unary-{m} ( {s} binop {s} unary-{m} )*
unary-{m} ::= [-+~] {s} unary-{m} | "await" {s1} primary-{m} | primary-{m}
primary-{m} ::= atom-{m} ( trailer | {s} "." name )*
atom-{m} ::= name | number | ( string {s1} )* string-last | "..." | paren | list | brace
star-{m} ::= "*" {s} or-{m} | expr-{m}
stars-{m} ::= star-{m} ( {s} "," {s} star-{m} )* ( {s} "," )?
yield-{m} ::= "yield" ( {s1} "from" {s1} expr-{m} | {s1} stars-{m} )?
targets-{m} ::= ( "*" {s} )? target ( {s} "," {s} ( "*" {s} )? target )* ( {s} "," )?
comp-for-{m} ::= ( "async" {s1} )? "for" {s1} targets-{m} {s1} "in" {s1} or-{m} ( {s1} "if" {s1} or-{m} )* (
  {s1} comp-for-{m} )?
"""

_BRACKETS = r"""
trailer ::= "(" ws args? ws ")" | "[" ws subscripts ws "]"
single ::= name ( ( trailer | "." name )* ( "." name | "[" ws subscripts ws "]" ) )?
target ::= single | "(" ws targets-b ws ")" | "[" ws targets-b? ws "]"
paren ::= "(" ws ( yield-b | star-b ( ws1 comp-for-b | ( ws "," ws star-b )* ( ws "," )? ) )? ws ")"
list ::= "[" ws ( star-b ( ws1 comp-for-b | ( ws "," ws star-b )* ( ws "," )? ) )? ws "]"
brace ::= "{" ws ( pairs | members )? ws "}"
pairs ::= pair ( ws1 comp-for-b | ( ws "," ws pair )* ( ws "," )? )
pair ::= expr-b ws ":" ws expr-b | "**" ws or-b
members ::= member ( ws1 comp-for-b | ( ws "," ws member )* ( ws "," )? )
member ::= expr-b | "*" ws or-b
args ::= ( positional ( ws "," ws positional )* ( ws "," ws named ( ws "," ws named )* )? |
  named ( ws "," ws named )* ) ( ws "," )?
positional ::= "*" ws expr-b | expr-b ( ws1 comp-for-b )?
named ::= keyword ws "=" ws expr-b | schedule-word ws "=" ws schedule-value | "**" ws expr-b | "*" ws expr-b
schedule-other ::= ( name | number | list | paren | brace ) schedule-tail
schedule-tail ::= ( trailer | ws "." name )* ( ws binop ws unary-b )*
cron ::= cron-field " " cron-field " " cron-field " " cron-field " " cron-field
cron-field ::= cron-item ( "," cron-item )*
cron-item ::= ( "*" | cron-value ( "-" cron-value )? ) ( "/" [0-9]+ )?
cron-value ::= [0-9] [0-9]? | [a-zA-Z] [a-zA-Z] [a-zA-Z]
subscripts ::= subscript ( ws "," ws subscript )* ( ws "," )?
subscript ::= expr-b | expr-b? ws ":" ws expr-b? ( ws ":" ws expr-b? )?
params ::= param ( ws "," ws param )* ( ws "," )?
param ::= "*" | "/" | ( "*" | "**" )? name ( ws ":" ws expr-b )? ( ws "=" ws expr-b )?
"""

_STATEMENTS = r"""
simple ::= small ( sp ";" sp small )*
small ::= "pass" | "break" | "continue" | "return" ( sp1 stars-l )? |
  "raise" ( sp1 expr-l ( sp1 "from" sp1 expr-l )? )? |
  "del" sp1 targets-l |
  "assert" sp1 expr-l ( sp "," sp expr-l )? |
  ( "global" | "nonlocal" ) sp1 name ( sp "," sp name )* |
  import |
  assignment
import ::= "import" sp1 dotted-as ( sp "," sp dotted-as )* |
  "from" sp1 ( "."* dotted | "."+ ) sp1 "import" sp1 ( "*" | import-names | "(" ws import-names-b ws ")" )
dotted ::= name ( "." name )*
dotted-as ::= dotted ( sp1 "as" sp1 name )?
import-names ::= name ( sp1 "as" sp1 name )? ( sp "," sp name ( sp1 "as" sp1 name )? )*
import-names-b ::= name ( ws1 "as" ws1 name )? ( ws "," ws name ( ws1 "as" ws1 name )? )* ( ws "," )?
assignment ::= ( targets-l sp "=" sp )* ( stars-l | yield-l ) |
  single sp augop sp ( stars-l | yield-l ) |
  single sp ":" sp expr-l ( sp "=" sp ( stars-l | yield-l ) )?
header ::= ( "if" | "elif" | "while" ) sp1 expr-l | "else" | "try" | "finally" |
  "except" ( sp1 "*"? expr-l ( sp1 "as" sp1 name )? )? |
  ( "async" sp1 )? ( "for" sp1 targets-l sp1 "in" sp1 stars-l | "with" sp1 with-item ( sp "," sp with-item )* ) |
  definition
definition ::= ( "async" sp1 )? "def" sp1 name sp "(" ws params? ws ")" ( sp "->" sp expr-l )? |
  "class" sp1 name ( sp "(" ws args? ws ")" )?
decorator ::= "@" sp expr-l eol blanks
with-item ::= expr-l ( sp1 "as" sp1 target )?
"""


_ASSET_CLASSES = ("Asset", "AssetAlias", "AssetAll", "AssetAny", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny")
"""What an asset schedule is made of, in Airflow 2 (datasets) and 3 (assets)."""


def _schedule_text(asked: str | None) -> str:
    """The value a `schedule=` keyword may take: any preset, cron or non-string value; or, where the request asked
    for one (`dagcore.asked_schedule`), only that schedule, spelled as asked or as its preset (`0 0 * * *`, `@daily`),
    `None` for a DAG run by hand, and for one run on assets a list, an asset or a name (neither a string nor
    `None`)."""
    words = " | ".join(_literal(w) for w in _SCHEDULE_WORDS)  # the same words `keyword` leaves out
    head = f"schedule-word ::= {words}\n"
    quoted = 'schedule-value ::= "\\"" schedule-text "\\"" | "\'" schedule-text "\'"'
    if asked is None:
        presets = " | ".join(_literal(p) for p in SCHEDULE_PRESETS)
        return head + f"{quoted} | schedule-other\nschedule-text ::= {presets} | cron\n"
    if asked == "none":
        return head + 'schedule-value ::= "None"\n'
    if asked == "asset":
        # a list, an asset (or an expression of them), or a name holding them: a name that is not an asset class is
        # never called (the model's `schedule=datetime(2024, 1, 1)` where it meant `None`)
        classes = " | ".join(_literal(c) for c in _ASSET_CLASSES)
        value = (
            "schedule-value ::= ( list | paren | asset-class ) schedule-tail"
            ' | not-none ( ws "." name )* ( ws binop ws unary-b )*\n'
            f"asset-class ::= {classes}\n"
        )
        return head + value + _keyword_rules(("None",), "not-none", stems=True)
    cron = PRESET_CRON.get(asked, asked)
    same = {asked, cron} | {p for p, c in PRESET_CRON.items() if c == cron and p in SCHEDULE_PRESETS}
    return head + f"{quoted}\nschedule-text ::= {' | '.join(_literal(s) for s in sorted(same))}\n"


_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def _char_class(chars: str) -> str:
    """`[...]` of `chars` (letters, digits, `_`), runs written as ranges."""
    ordered = sorted(set(chars))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ord(ordered[j + 1]) == ord(ordered[j]) + 1:
            j += 1
        parts.append(ordered[i] if i == j else f"{ordered[i]}-{ordered[j]}" if j > i + 1 else ordered[i] + ordered[j])
        i = j + 1
    return "[" + "".join(parts) + "]"


def _keyword_rules(words: tuple[str, ...], rule_name: str = "keyword", *, stems: bool = False) -> str:
    """`rule_name` (`keyword`): any name but `words`, written as a trie (GBNF has no lookahead to say "not this
    word"). Each node is a prefix of a word: it goes on to a child, or leaves the words with another character and
    any name after it, or ends there where the prefix is a name and not one of the words. `stems`: no name that
    starts with one of the words either (where the model means the word itself, `None_` is never what it meant)."""
    last = 0 if stems else 1  # with `stems` a whole word is no node: the character that would finish it is refused
    prefixes = sorted({w[:i] for w in words for i in range(len(w) + last)}, key=lambda p: (len(p), p))
    rule = {p: f"{rule_name}-{i}" for i, p in enumerate(prefixes)}
    rule[""] = rule_name
    lines = []
    for prefix in prefixes:
        allowed = _NAME_CHARS if not prefix else _NAME_CHARS + _DIGITS
        nexts = {w[len(prefix)] for w in words if len(w) > len(prefix) and w.startswith(prefix)}
        children = sorted(c for c in nexts if prefix + c in rule)
        alternatives = [f'"{c}" {rule[prefix + c]}' for c in children]
        others = "".join(c for c in allowed if c not in nexts)
        alternatives.append(f"{_char_class(others)} [a-zA-Z0-9_]*")
        body = " | ".join(alternatives)
        ends = prefix and prefix not in words
        lines.append(f"{rule[prefix]} ::= ( {body} )?" if ends else f"{rule[prefix]} ::= {body}")
    return "\n".join(lines) + "\n"


def _expressions() -> str:
    line = _EXPRESSION.replace("{m}", "l").replace("{s1}", "sp1").replace("{s}", "sp")
    bracket = _EXPRESSION.replace("{m}", "b").replace("{s1}", "ws1").replace("{s}", "ws")
    return line + bracket


def _blocks(depth: int) -> str:
    """Statements at each indentation: a compound statement's body is one level deeper, or one line after its
    colon. Blank and comment-only lines go between any two statements, at most 24 in a row (`blanks`)."""
    rules = []
    for level in range(depth + 1):
        indent = f'"{" " * 4 * level}"' if level else ""
        body = f"( sp simple eol | eol block-{level + 1} )" if level < depth else "sp simple eol"
        # A decorator is followed by the `def` or `class` it decorates, at its own indentation: a model that stacks
        # `@task` lines without one loops to the token limit (a third of the 23 cut answers on the written dev set).
        decorated = f"decorator ( {indent} decorator ){{0,{MAX_DECORATORS - 1}}} {indent} definition"
        rule = f'stmt-{level} ::= {indent} ( simple eol | ( header | {decorated} ) sp ":" {body} )'
        rules.append(rule)
        if level:
            rules.append(f"block-{level} ::= blanks stmt-{level} ( blanks stmt-{level} )*")
    return "\n".join(rules) + "\n"


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def python_answer_grammar(
    contract: PromptContract = DEFAULT_CONTRACT,
    *,
    depth: int = MAX_DEPTH,
    request: str | None = None,
    airflow_version: AirflowVersion | str | None = None,
) -> str:
    """The GBNF grammar of an answer in `contract`'s format: its opening fence, a Python file, its closing fence.

    The fences come from `contract.answer_template` (`{code}` between them), so the grammar and the training
    answers agree on one format. A template without `{code}` cannot be constrained. With the user's `request`, a
    `schedule=` keyword takes only the schedule it asks for, where `dagcore.asked_schedule` reads one; with its
    `airflow_version` too, a request that names providers (`dagcore.asked_imports`) is answered by a file that
    opens with the import block composed files open with, their lines among it (`opening_imports`)."""
    if not request:
        return _grammar(contract.answer_template, depth, None, "")
    return _grammar(contract.answer_template, depth, asked_schedule(request), opening_imports(request, airflow_version))


def opening_imports(request: str, airflow_version: AirflowVersion | str | None) -> str:
    """The import lines an answer to `request` opens with, as GBNF; "" where it names no provider or no version.

    A 135M model that meets "load it into Snowflake" with `BashOperator(bash_command="python -m snowflake.load")`
    writes the Snowflake hook's call once the hook is imported; a model that sees the line where it never saw one
    (above `from datetime import datetime`) loses its way. So the lines are where dagsynth's composed files have
    them: after `from datetime import datetime` (`, timedelta` optional), sorted into the block of the names most
    DAGs use (`dagcore.names.import_notes`), as Airflow `major`.x has them."""
    version = AirflowVersion.of(airflow_version)
    providers = asked_imports(request)
    if version is None or not providers:
        return ""
    block = import_notes(version.major, also=providers) + "\n"
    return f'"from datetime import datetime" ", timedelta"? "\\n\\n" {_literal(block)}'


def with_answer_grammar(
    extra: dict[str, Any],
    contract: PromptContract,
    request: str | None = None,
    messages: list[dict[str, str]] | None = None,
    airflow_version: AirflowVersion | str | None = None,
) -> dict[str, Any]:
    """`extra` (a chat request's further fields) plus llama.cpp's `grammar` field for `contract`'s answers to
    `request` (or, without one, to the user turns of `messages`) for `airflow_version`: what a generator sends to
    dagserve (or any llama.cpp server) to decode under the Python answer grammar. With it goes dagserve's
    `name_guard`: where the file runs at import, a name must be defined before it is loaded, a dependency must join
    two tasks without a cycle, and a task id is used once (`dagserve._names`; a llama.cpp server ignores the field).
    `extra` may turn it off (`"name_guard": False`). With a version goes dagserve's `version_guard` too: what the
    code imports from `airflow` must exist in that series (`dagcore.modules`; `"version_guard": None` turns it off)."""
    words = request or "\n".join(m["content"] for m in messages or [] if m["role"] == "user")
    grammar = python_answer_grammar(contract, request=words or None, airflow_version=airflow_version)
    version = AirflowVersion.of(airflow_version)
    imports = {"version_guard": f"{version.major}.{version.minor}"} if version is not None else {}
    return {"name_guard": True, **imports, **extra, "grammar": grammar}


@cache
def _grammar(answer_template: str, depth: int, asked: str | None, opening: str) -> str:
    head, found, tail = answer_template.partition("{code}")
    if not found:
        raise ValueError(f"the contract's answer_template has no {{code}} field: {answer_template!r}")
    # The code's last line ends with a line break; the template's own break before the closing fence is that one.
    close = tail.removeprefix("\n")
    root = f"root ::= {_literal(head)} {opening} blanks stmt-0 ( blanks stmt-0 )* blanks {_literal(close)}\n"
    grammar = root + _blocks(depth) + _STATEMENTS + _BRACKETS + _expressions() + _COMMON
    return grammar + _schedule_text(asked) + _keyword_rules(_SCHEDULE_WORDS)
