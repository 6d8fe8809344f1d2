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

from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from dagcore import AirflowVersion
from dageval.models import Level, LevelResult

BREAKING_ON_3 = ("AIR301", "AIR302")


def ruff_codes(codes: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(rule code, message) pairs for each piece of code, in order: one ruff process for all of them."""
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
        found: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for item in json.loads(done.stdout or "[]"):
            index = int(Path(item["filename"]).stem[1:])
            if item.get("code"):
                found[index].append((str(item["code"]), str(item["message"])))
        return [sorted(found[i]) for i in range(len(codes))]


def lint_result(findings: list[tuple[str, str]], airflow_version: AirflowVersion | None) -> LevelResult:
    codes = sorted({code for code, _ in findings})
    major = airflow_version.major if airflow_version is not None else 3  # unknown: judged as the newest
    breaking = [(c, m) for c, m in findings if major >= 3 and c in BREAKING_ON_3]
    if breaking:
        return LevelResult(
            level=Level.LINT, ok=False, category="removed_in_airflow_3", message=breaking[0][1], codes=codes
        )
    return LevelResult(level=Level.LINT, ok=True, codes=codes)
