"""A model's judged answers to composed requests, written as rows a dataset reads (the verifier as teacher)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dagsynth
from dagsynth import Answer, DagsynthError, Verdict


def _keep_all(dags: object) -> list[Verdict]:
    return [Verdict(ok=True) for _ in dags]  # type: ignore[attr-defined]


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_read_composed_gives_back_the_files_compose_wrote_with_their_requests(tmp_path: Path) -> None:
    made = dagsynth.compose(6, ["2.10", "3.1"], seed=7)
    dagsynth.compose_to_dir(tmp_path, per_version=6, versions=["2.10", "3.1"], seed=7, judge=_keep_all, repairs=1.0)
    found = dagsynth.read_composed(tmp_path)
    assert [d.id for d in found] == [d.id for d in made]
    for mine, theirs in zip(found, made, strict=True):
        # Everything a prompt and its check need survives the round trip; repair rows are not requests.
        assert (mine.code, mine.requests, mine.expect) == (theirs.code, theirs.requests, theirs.expect)
        assert (mine.airflow_version, mine.dag_id, mine.kinds) == (theirs.airflow_version, theirs.dag_id, theirs.kinds)
    with pytest.raises(DagsynthError, match="run compose_to_dir first"):
        dagsynth.read_composed(tmp_path / "nothing")


def test_passed_answers_are_kept_as_written_and_failed_requests_bring_their_file(tmp_path: Path) -> None:
    dags = dagsynth.compose(4, ["3.1"], seed=3)
    mine = "from airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef mine():\n    pass\n\n\nmine()\n"
    broken = "from airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef broken():\n    nope()\n\n\nbroken()\n"
    answers = [
        Answer(dag=dags[0], request=dags[0].requests[0], code=mine, verdict=Verdict(ok=True)),
        Answer(
            dag=dags[1],
            request=dags[1].requests[1],
            code=broken,
            verdict=Verdict(ok=False, level="import", category="import_error", message="NameError: name 'nope'"),
        ),
        Answer(
            dag=dags[2],
            request=dags[2].requests[0],
            code=mine,
            verdict=Verdict(ok=False, level="intent", category="intent_schedule", message="runs on None"),
        ),
        Answer(dag=dags[3], request=dags[3].requests[0], code="", verdict=Verdict(ok=False, level="extract")),
    ]
    summary = dagsynth.answers_to_dir(tmp_path, answers, lesson_levels={"syntax", "import"})
    files = {str(r["id"]): r for r in _rows(tmp_path / "dags.jsonl")}
    asked = _rows(tmp_path / "instructions.jsonl")
    assert (summary.answers, summary.kept, summary.references, summary.lessons) == (4, 1, 3, 1)
    assert summary.failed == {"import/import_error": 1, "intent/intent_schedule": 1, "extract/": 1}

    kept = next(r for r in asked if r["style"] == "answer")
    assert str(kept["dag_id"]).startswith(dags[0].id + dagsynth.ANSWER) and kept["text"] == dags[0].requests[0]
    assert files[str(kept["dag_id"])]["code"] == mine  # the model's own words, not the composed file
    assert dags[0].id not in files  # a request the model answered brings no second file

    references = {str(r["dag_id"]): r["text"] for r in asked if r["style"] == "reference"}
    assert references == {d.id: a.request for d, a in zip(dags[1:], answers[1:], strict=True)}
    assert all(files[d.id]["code"] == d.code for d in dags[1:])

    (lesson,) = [r for r in asked if "repair" in r]
    # Only the failure the repair loop would show: the broken answer, the judge's words, the composed file.
    assert lesson["dag_id"] == dags[1].id and lesson["style"] == "repair:answer"
    assert lesson["repair"] == {
        "code": broken,
        "level": "import",
        "category": "import_error",
        "message": "NameError: name 'nope'",
    }


def test_several_samples_of_one_request_are_told_apart_and_its_file_is_asked_once(tmp_path: Path) -> None:
    (dag,) = dagsynth.compose(1, ["2.10"], seed=1)
    failed = Verdict(ok=False, level="syntax", category="syntax_error", message="line 1: invalid syntax")
    answers = [
        Answer(dag=dag, request=dag.requests[0], code="a = (", verdict=failed),
        Answer(dag=dag, request=dag.requests[0], code="b = (", verdict=failed),
        Answer(dag=dag, request=dag.requests[0], code="x = 1\n", verdict=Verdict(ok=True)),
        Answer(dag=dag, request=dag.requests[0], code="y = 1\n", verdict=Verdict(ok=True)),
    ]
    summary = dagsynth.answers_to_dir(tmp_path, answers, lesson_levels={"syntax"})
    asked = _rows(tmp_path / "instructions.jsonl")
    assert (summary.kept, summary.references, summary.lessons) == (2, 1, 2)
    assert len({r["custom_id"] for r in asked}) == len(asked) == 5
