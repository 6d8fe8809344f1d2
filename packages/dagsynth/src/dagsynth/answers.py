"""The verifier as teacher: a model's judged answers to composed requests, written as rows a dataset reads.

A round of rejection-sampling fine-tuning asks the tuned model fresh composed requests (files it never saw) and
keeps what a real Airflow says of each answer. An answer the judge passes is trained on as the model wrote it (its
own words, which it fits most easily); a request it failed is trained on with its composed file, and where the
failure is one the repair loop shows the model (syntax, structure, import), also as a repair lesson: its own
broken answer, the judge's words on it, then the composed file. The rows have compose's layout (`dags.jsonl`,
`instructions.jsonl`), so dagdata reads them as it reads a compose folder.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dagsynth.exceptions import DagsynthError
from dagsynth.models import ComposedDag, Verdict
from dagsynth.rows import atomic_jsonl, dag_of_row, mined_row, repair_row, request_row

ANSWER = "-answer"
"""What a kept answer's id adds to its composed file's id."""


class Answer(BaseModel):
    """One answer of a model to a composed file's request, with the judge's verdict on it."""

    dag: ComposedDag
    """The composed file whose request was asked: the fix when the answer fails."""
    request: str
    code: str
    """The code cut out of the answer (empty when it held none)."""
    verdict: Verdict


class AnswerSummary(BaseModel):
    out_dir: Path
    answers: int = 0
    kept: int = 0
    """Answers the judge passed: trained on as the model wrote them."""
    references: int = 0
    """Failed requests trained on with their composed file."""
    lessons: int = 0
    """Failed answers that became repair lessons (their failure is one the repair loop shows)."""
    failed: dict[str, int] = Field(default_factory=dict)
    """Failed answers per `level/category`."""
    dags_file: Path
    instructions_file: Path


def read_composed(folder: str | Path) -> list[ComposedDag]:
    """The composed files of a `compose_to_dir` folder with their requests (repair rows aside), in file order."""
    out = Path(folder)
    dags_file, requests_file = out / "dags.jsonl", out / "instructions.jsonl"
    if not dags_file.is_file() or not requests_file.is_file():
        raise DagsynthError(f"{out} holds no composed files (dags.jsonl, instructions.jsonl): run compose_to_dir first")
    asked: dict[str, dict[str, str]] = {}
    for row in _rows(requests_file):
        if not row.get("repair"):
            asked.setdefault(str(row["dag_id"]), {})[str(row["style"])] = str(row["text"])
    dags = []
    for row in _rows(dags_file):
        dag = dag_of_row(row, asked.get(str(row["id"]), {}))
        if dag is None:
            raise DagsynthError(f"{dags_file}: {row['id']} has no Airflow version: the folder is not compose's")
        dags.append(dag)
    return dags


def answers_to_dir(out_dir: str | Path, answers: Sequence[Answer], *, lesson_levels: Collection[str]) -> AnswerSummary:
    """Write `dags.jsonl` and `instructions.jsonl` for `answers` into `out_dir` (each file whole or absent).

    `lesson_levels`: the judge's levels (`syntax`, `import`, ...) whose failures become repair lessons; a failure
    elsewhere (no code, cut off, intent) only brings its composed file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dags: dict[str, dict[str, object]] = {}
    requests: list[dict[str, object]] = []
    for answer in answers:
        # Several samples of one request: each answer is told apart by its code.
        mark = hashlib.sha256(answer.code.encode()).hexdigest()[:8]
        if answer.verdict.ok:
            mine = answer.dag.model_copy(update={"id": f"{answer.dag.id}{ANSWER}-{mark}", "code": answer.code})
            dags[mine.id] = mined_row(mine)
            requests.append(request_row(mine, answer.request, "answer"))
            continue
        dags[answer.dag.id] = mined_row(answer.dag)
        requests.append(request_row(answer.dag, answer.request, "reference"))
        if answer.code.strip() and answer.verdict.level in lesson_levels:
            lesson_id = f"{answer.dag.id}-repair-{mark}"
            requests.append(
                repair_row(answer.dag, answer.request, answer.code, answer.verdict, kind="answer", custom_id=lesson_id)
            )
    atomic_jsonl(out / "dags.jsonl", dags.values())
    rows = _unique(requests)
    atomic_jsonl(out / "instructions.jsonl", rows)
    styles = Counter(str(r["style"]) for r in rows)
    failed = [a.verdict for a in answers if not a.verdict.ok]
    return AnswerSummary(
        out_dir=out,
        answers=len(answers),
        kept=styles["answer"],
        references=styles["reference"],
        lessons=styles["repair:answer"],
        failed=dict(Counter(f"{v.level}/{v.category}" for v in failed)),
        dags_file=out / "dags.jsonl",
        instructions_file=out / "instructions.jsonl",
    )


def _unique(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per id: with several samples per request, the same reference is asked once."""
    return list({str(r["custom_id"]): r for r in rows}.values())


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
