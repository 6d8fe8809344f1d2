"""The rows dagsynth writes, in the layout of mined records and requests (dagdata's `MinedDag` and `Request`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dagcore import AirflowVersion, Expect
from dagsynth.models import ComposedDag, Verdict

STYLES = ("terse", "plain")
"""The styles of a composed file's requests, in the order of `ComposedDag.requests`."""


def atomic_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def mined_row(dag: ComposedDag) -> dict[str, object]:
    imports = [line.split()[1] for line in dag.code.splitlines() if line.startswith("from ")]
    return {
        "id": dag.id,
        "code": dag.code,
        "paths": [f"composed/{dag.airflow_version.series}/{dag.dag_id}.py"],
        "dag_ids": [dag.dag_id],
        "operators": dag.kinds,
        "imports": imports,
        "first_version": str(dag.airflow_version),
        "last_version": str(dag.airflow_version),
        "origin": "composed",
        "expect": dag.expect.model_dump(),
    }


def dag_of_row(row: dict[str, Any], requests: dict[str, str]) -> ComposedDag | None:
    """The composed file a `mined_row` wrote, with its requests by style; None when the row names no version."""
    version = AirflowVersion.of(str(row["first_version"]))
    if version is None:
        return None
    return ComposedDag(
        id=str(row["id"]),
        dag_id=str(row["dag_ids"][0]),
        airflow_version=version,
        code=str(row["code"]),
        requests=[requests[s] for s in STYLES if s in requests],
        expect=Expect.model_validate(row.get("expect") or {}),
        kinds=[str(k) for k in row.get("operators") or []],
    )


def request_row(dag: ComposedDag, text: str, style: str) -> dict[str, object]:
    return {
        "custom_id": f"{dag.id}-{style}",
        "dag_id": dag.id,
        "style": style,
        "text": text,
        "airflow_version": str(dag.airflow_version),
        "backend": "dagsynth",
        "origin": "composed",
    }


def request_rows(dag: ComposedDag) -> list[dict[str, object]]:
    return [request_row(dag, text, style) for style, text in zip(STYLES, dag.requests, strict=False)]


def repair_row(
    dag: ComposedDag, text: str, broken: str, verdict: Verdict, *, kind: str, custom_id: str = ""
) -> dict[str, object]:
    """A repair lesson: `text` asked, `broken` answered, the judge's words on it, then `dag`'s file as the fix."""
    return {
        **request_row(dag, text, f"repair:{kind}"),
        "custom_id": custom_id or f"{dag.id}-repair",
        "repair": {"code": broken, "level": verdict.level, "category": verdict.category, "message": verdict.message},
    }
