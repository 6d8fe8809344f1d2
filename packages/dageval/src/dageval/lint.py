"""Level 4: ruff's Airflow rules (AIR), run by ruff itself over a whole batch at once.

AIR301 (removed in Airflow 3) and AIR302 (moved to a provider, no compatibility shim) break a DAG on
Airflow 3 and fail the level there; the other AIR codes (deprecated but working, style) are recorded
and do not fail it. On Airflow 2 targets the AIR3xx rules are about a future version: recorded only.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from dagcore import AirflowVersion
from dageval.models import Level, LevelResult

BREAKING_ON_3 = ("AIR301", "AIR302")


class AirFinding(BaseModel):
    """One finding of ruff's Airflow rules in one file."""

    code: str
    """The rule, e.g. `AIR301` (removed in Airflow 3) or `AIR302` (moved to a provider)."""
    message: str
    line: int
    fix: str | None = None
    """What ruff's fix does, in words (`ruff check --fix` applies it), where the rule has one."""
    fix_safe: bool = False
    """ruff marks the fix safe: it keeps the file's behaviour."""
    url: str | None = None
    """The rule's documentation."""


def air_findings(codes: Sequence[str]) -> list[list[AirFinding]]:
    """ruff's AIR findings for each piece of code, in order, with their fixes: one ruff process for all of them."""
    with tempfile.TemporaryDirectory(prefix="dageval-lint-") as tmp:
        folder = Path(tmp)
        for i, code in enumerate(codes):
            (folder / f"f{i:07d}.py").write_text(code, encoding="utf-8")
        done = subprocess.run(
            [
                find_ruff_bin(),
                "check",
                "--select",
                "AIR",
                "--preview",
                "--isolated",
                "--no-cache",
                "--exit-zero",
                "--output-format",
                "json",
                "--target-version",
                "py311",
                str(folder),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        found: dict[int, list[AirFinding]] = defaultdict(list)
        for item in json.loads(done.stdout or "[]"):
            if not item.get("code"):  # a file ruff cannot parse: no rule, only a syntax error
                continue
            fix = item.get("fix") or {}
            found[int(Path(item["filename"]).stem[1:])].append(
                AirFinding(
                    code=str(item["code"]),
                    message=str(item["message"]),
                    line=int((item.get("location") or {}).get("row") or 0),
                    fix=fix.get("message") or None,
                    fix_safe=fix.get("applicability") == "safe",
                    url=item.get("url"),
                )
            )
        return [sorted(found[i], key=lambda f: (f.line, f.code)) for i in range(len(codes))]


def ruff_codes(codes: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(rule code, message) pairs for each piece of code, in order: one ruff process for all of them."""
    return [sorted((f.code, f.message) for f in findings) for findings in air_findings(codes)]


def lint_result(findings: list[tuple[str, str]], airflow_version: AirflowVersion | None) -> LevelResult:
    codes = sorted({code for code, _ in findings})
    major = airflow_version.major if airflow_version is not None else 3  # unknown: judged as the newest
    breaking = [(c, m) for c, m in findings if major >= 3 and c in BREAKING_ON_3]
    if breaking:
        return LevelResult(
            level=Level.LINT, ok=False, category="removed_in_airflow_3", message=breaking[0][1], codes=codes
        )
    return LevelResult(level=Level.LINT, ok=True, codes=codes)
