"""One distinct file in, one verdict out: parse, decide if it is a DAG, clean, check, describe.

This runs in worker processes, so it takes and returns plain picklable values.
"""

from __future__ import annotations

import ast
import hashlib
import warnings
from dataclasses import dataclass

import libcst

from dagcore import is_test_internal
from dagmine._clean import clean_parsed
from dagmine._detect import analyze, is_dag_module, may_define_dag
from dagmine.models import DagInfo, ExclusionReason


@dataclass(frozen=True, slots=True)
class Kept:
    key: str
    original: str
    code: str
    steps: tuple[str, ...]
    info: DagInfo

    @property
    def record_id(self) -> str:
        return record_id(self.code)


@dataclass(frozen=True, slots=True)
class Excluded:
    key: str
    reason: ExclusionReason
    detail: str = ""


Verdict = Kept | Excluded


NEVER_NAMES_DAG = "never names DAG or dag"


def record_id(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def decode(key: str, data: bytes) -> str | Excluded:
    """Bytes to text, or the reason they are not Python source we take."""
    if b"\0" in data:
        return Excluded(key, ExclusionReason.BINARY, "NUL byte in file")
    # The cheap byte-level gate first: most files of a code base never name a DAG.
    if not may_define_dag(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            return Excluded(key, ExclusionReason.NOT_UTF8, f"byte {e.start}: {e.reason}")
        return Excluded(key, ExclusionReason.NOT_DAG, NEVER_NAMES_DAG)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return Excluded(key, ExclusionReason.NOT_UTF8, f"byte {e.start}: {e.reason}")


def _parse(text: str) -> ast.Module | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences in old files are not our concern
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            return None


def judge(key: str, text: str, *, do_clean: bool, recover: bool) -> Verdict:
    tree = _parse(text)
    if tree is None:
        return Excluded(key, ExclusionReason.SYNTAX_ERROR, _syntax_detail(text))
    if not is_dag_module(tree):
        return Excluded(key, ExclusionReason.NOT_DAG, "defines no DAG at import")
    code, cleaned = text, tree
    steps: tuple[str, ...] = ()
    if do_clean:
        try:
            result, cleaned = clean_parsed(text, tree, recover=recover)
        except (libcst.ParserSyntaxError, libcst.CSTValidationError, RecursionError, SyntaxError) as e:
            # libcst cannot parse a few files that CPython can, and a cleaning bug must not stop a run:
            # the file is counted and listed in excluded.jsonl with the error.
            return Excluded(key, ExclusionReason.CLEAN_ERROR, str(e).splitlines()[0] if str(e) else type(e).__name__)
        code, steps = result.code, tuple(result.steps)
    info = analyze(cleaned)
    if info is None:
        return Excluded(key, ExclusionReason.CLEAN_ERROR, "no DAG left after cleaning")
    internals = [m for m in info.imports if is_test_internal(m)]
    if internals:
        return Excluded(key, ExclusionReason.TEST_INTERNALS, ", ".join(internals))
    return Kept(key=key, original=text, code=code, steps=steps, info=info)


def _syntax_detail(text: str) -> str:
    try:
        compile(text, "<dag>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except (ValueError, RecursionError) as e:
        return str(e)
    return "unparsable"


def judge_batch(batch: list[tuple[str, str]], do_clean: bool, recover: bool) -> list[Verdict]:
    return [judge(key, text, do_clean=do_clean, recover=recover) for key, text in batch]
