"""Real mined DAGs, found by words: a SQLite FTS5 index over a dagmine output folder, ranked by FTS5's bm25.

The index is a cache: it lives next to the user's other caches, keyed by the hash of `dags.jsonl`, and is
built again only when the mined records change.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from pathlib import Path

from pydantic import BaseModel

import dagmine
from airflow_net_mcp.exceptions import McpAppError
from dagcore import AirflowVersion

# Column weights for bm25: a word in a DAG id or docstring says more about the file than one deep in its code.
_WEIGHTS = (8.0, 4.0, 3.0, 2.0, 1.0)
_WORD = re.compile(r"\w+")
DAGS_FILE = "dags.jsonl"


class Example(BaseModel):
    """A real DAG file that matches the query."""

    id: str
    code: str
    source: str
    """Where it was mined: the first ref and path (`apache-airflow==2.10.5:airflow/example_dags/...`)."""
    airflow_versions: list[str]
    """The Airflow releases it shipped in."""
    dag_ids: list[str]
    score: float
    """FTS5's bm25 relevance (higher is better)."""


def cache_dir() -> Path:
    base = os.environ.get("AIRFLOW_NET_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "airflow-net") / "examples"


class ExampleIndex:
    """Open (building when needed) the index of one dagmine output folder."""

    def __init__(self, mined: Path, cache: Path | None = None) -> None:
        records = mined / DAGS_FILE if mined.is_dir() else mined
        if not records.is_file():
            raise McpAppError(f"no mined DAGs at {mined}: run `airflow-net mine ... --out {mined}` first")
        digest = hashlib.sha256(records.read_bytes()).hexdigest()[:16]
        folder = cache or cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"examples-{digest}.sqlite"
        if not self.path.is_file():
            self._build(records)
        # One connection for the server's life, used from the tool threads one at a time.
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()

    def _build(self, records: Path) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        db.execute(
            "CREATE VIRTUAL TABLE examples USING fts5(dag_ids, docstring, operators, imports, code, "
            "id UNINDEXED, source UNINDEXED, versions UNINDEXED, series UNINDEXED, dag_ids_json UNINDEXED, "
            "tokenize='unicode61')"
        )
        rows = []
        for r in dagmine.read_records(records):
            versions = [str(v) for v in r.airflow_versions]
            occurrence = r.occurrences[0] if r.occurrences else None
            source = f"{occurrence.ref}:{occurrence.path}" if occurrence else (r.paths[0] if r.paths else r.id)
            rows.append(
                (
                    " ".join(r.dag_ids).replace("_", " "),
                    r.docstring or "",
                    " ".join(r.operators),
                    " ".join(r.imports).replace(".", " "),
                    r.code,
                    r.id,
                    source,
                    " ".join(versions),
                    f" {' '.join(sorted({v.series for v in r.airflow_versions}))} ",
                    json.dumps(r.dag_ids),
                )
            )
        db.executemany("INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.commit()
        db.close()
        tmp.replace(self.path)

    def search(self, query: str, airflow_version: AirflowVersion | str | None = None, k: int = 5) -> list[Example]:
        """The k best matches for the query's words (any of them), from files that shipped in that series."""
        words = _WORD.findall(query)
        if not words:
            raise McpAppError("the query has no words to search for")
        # Each word quoted: FTS5's query syntax (AND, NEAR, column:) must not be triggered by a user's text.
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        version = AirflowVersion.of(airflow_version)
        sql = (
            "SELECT id, code, source, versions, dag_ids_json, -bm25(examples, ?, ?, ?, ?, ?) AS score "
            "FROM examples WHERE examples MATCH ?"
        )
        args: list[object] = [*_WEIGHTS, match]
        if version is not None:
            sql += " AND instr(series, ?) > 0"
            args.append(f" {version.series} ")
        sql += " ORDER BY score DESC LIMIT ?"
        args.append(max(1, min(k, 50)))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            Example(
                id=row[0],
                code=row[1],
                source=row[2],
                airflow_versions=row[3].split(),
                dag_ids=json.loads(row[4]),
                score=round(float(row[5]), 4),
            )
            for row in rows
        ]

    def close(self) -> None:
        self._db.close()
