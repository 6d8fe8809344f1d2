"""The base-vs-tuned experiment over real HTTP: two "models" (local endpoints) judged into their folders, compared,
and found current the second time without being served again."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import dageval
from dagcore import Retry
from dageval import JudgeConfig, Level

GOOD = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="d{n}", schedule=None):
    EmptyOperator(task_id="a")
"""


@contextmanager
def _endpoint(good: bool, before_answer: Callable[[], None] | None = None) -> Iterator[str]:
    """An OpenAI-compatible chat endpoint that always answers a DAG (good) or a broken file, each answer after
    `before_answer` returns."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if before_answer is not None:
                before_answer()
            code = GOOD.format(n=len(body["messages"][-1]["content"])) if good else "def broken(:\n"
            message = {"role": "assistant", "content": f"```python\n{code}```"}
            data = json.dumps({"choices": [{"message": message, "finish_reason": "stop"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def test_two_models_judged_compared_then_found_current(tmp_path: Path) -> None:
    prompts = tmp_path / "test.jsonl"
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"DAG {'x' * i}"}]} for i in range(4)]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base, tuned = tmp_path / "base.gguf", tmp_path / "tuned.gguf"
    base.write_bytes(b"base weights")
    tuned.write_bytes(b"tuned weights")
    served: list[str] = []

    def serve(model: Path) -> AbstractContextManager[str]:
        served.append(model.name)
        return _endpoint(good=model == tuned)

    config = JudgeConfig(level=Level.STRUCTURE, max_prompts=3)
    out = tmp_path / "eval"
    first = dageval.run_experiment(base, tuned, prompts, out, config, serve=serve)
    assert not first.skipped and served == ["base.gguf", "tuned.gguf"]
    assert first.base.prompts == 3 and len(first.tuned.read_verdicts()) == 3
    assert [c.level for c in first.comparisons] == ["extract", "syntax", "structure"]
    assert first.comparisons[-1].base_rate == 0.0 and first.comparisons[-1].tuned_rate == 1.0
    assert json.loads(first.comparison_file.read_text())[1]["tuned_only"] == 3
    assert first.base.categories == {"syntax_error": 3}
    for name in ("base", "tuned"):
        assert {"completions.jsonl", "verdicts.jsonl", "summary.json", "report.md", "manifest.json"} <= {
            p.name for p in (out / name).iterdir()
        }
    again = dageval.run_experiment(base, tuned, prompts, out, config, serve=serve)
    assert again.skipped and served == ["base.gguf", "tuned.gguf"]  # nothing served the second time
    tuned.write_bytes(b"tuned again")
    third = dageval.run_experiment(base, tuned, prompts, out, config, serve=serve)
    assert not third.skipped and third.base.skipped and not third.tuned.skipped
    assert served == ["base.gguf", "tuned.gguf", "tuned.gguf"]  # only the changed model answered again


def test_two_prompt_sets_one_server_per_model_with_repairs_and_tags(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    tags = [["cron", "bash"], ["cron"], ["python"]]
    rows = [{"id": f"q{i}", "request": f"DAG {i}", "airflow_version": "3.1", "tags": t} for i, t in enumerate(tags)]
    requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
    heldout = tmp_path / "test.jsonl"
    heldout.write_text(json.dumps({"id": "h0", "request": "another DAG", "airflow_version": "2.10"}) + "\n")
    base, tuned = tmp_path / "base.gguf", tmp_path / "tuned.gguf"
    base.write_bytes(b"base weights")
    tuned.write_bytes(b"tuned weights")
    served: list[str] = []

    def serve(model: Path) -> AbstractContextManager[str]:
        served.append(model.name)
        return _endpoint(good=model == tuned)

    judge = JudgeConfig(level=Level.STRUCTURE, repairs=1)
    sets = [
        dageval.PromptSet(name="benchmark", prompts=requests, judge=judge),
        dageval.PromptSet(name="heldout", prompts=heldout, judge=judge.model_copy(update={"max_prompts": 1})),
    ]
    out = tmp_path / "eval"
    bench, held = dageval.run_experiments(base, tuned, sets, out, serve=serve)
    assert served == ["base.gguf", "tuned.gguf"]  # one server per model for both sets
    assert bench.folder == out / "benchmark" and held.base.folder == out / "heldout" / "base"
    assert bench.base.prompts == 3 and held.tuned.prompts == 1
    assert [row.repairs for row in bench.base.repairs] == [0, 1]  # N + 1 rows
    assert bench.base.repairs[1].rates["structure"] == 0.0 and bench.tuned.repairs[0].rates["structure"] == 1.0
    assert [(t.tag, t.n, t.base_rate, t.tuned_rate) for t in bench.tags] == [
        ("cron", 2, 0.0, 1.0),
        ("bash", 1, 0.0, 1.0),
        ("python", 1, 0.0, 1.0),
    ]
    assert held.tags == []  # an untagged set has no per-tag table
    report = (out / "benchmark" / "report.md").read_text()
    assert "## base: validity after repairs" in report and "| cron | 2 | 0.0% | 100.0% |" in report
    again = dageval.run_experiments(base, tuned, sets, out, serve=serve)
    assert all(e.skipped for e in again) and served == ["base.gguf", "tuned.gguf"]
    assert again[0].tags == bench.tags and again[0].base.repairs == bench.base.repairs
    # The retry is stamped only where it is not the default: judgements made before it existed are still found,
    # and asking afresh is a new judgement.
    unstamped = judge.model_dump(mode="json", exclude={"retry", "grammar"})
    assert "retry" not in judge.stamped() and judge.stamped() == unstamped
    afresh = judge.model_copy(update={"retry": Retry(feedback=False, temperature=0.8)})
    assert afresh.stamped()["retry"] == {"feedback": False, "temperature": 0.8}
    parsing = judge.model_copy(update={"retry": Retry(feedback=False, temperature=0.8, grammar=True)})
    assert parsing.stamped()["retry"] == {"feedback": False, "temperature": 0.8, "grammar": True}
    # Under the grammar goes the version guard, keyword arguments checked: a new judgement. Without the keywords it
    # is the guard as first judged; turned off, decoding as before the guard.
    grammared = judge.model_copy(update={"grammar": True})
    assert grammared.stamped()["version_guard"] == "keywords"
    imports_only = grammared.model_copy(update={"extra": {"version_guard_keywords": False}}).stamped()
    assert imports_only["version_guard"] is True and imports_only["extra"] == {}
    unguarded = grammared.model_copy(update={"extra": {"version_guard": None}}).stamped()
    assert "version_guard" not in unguarded and unguarded["extra"] == {} and "version_guard" not in judge.stamped()
    redone = dageval.run_experiments(base, tuned, [sets[1].model_copy(update={"judge": afresh})], out, serve=serve)
    assert not redone[0].skipped and served == ["base.gguf", "tuned.gguf"] * 2


def test_the_base_may_be_judged_with_fewer_retries(tmp_path: Path) -> None:
    # The untuned base fails every request here: with `base_repairs=0` it answers each once, while the tuned model
    # keeps the set's retries (its table has rows 0..1) and the pairing stays single-shot.
    requests = tmp_path / "requests.jsonl"
    rows = [{"id": f"q{i}", "request": f"DAG {i}", "airflow_version": "3.1"} for i in range(3)]
    requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base, tuned = tmp_path / "base.gguf", tmp_path / "tuned.gguf"
    base.write_bytes(b"base weights")
    tuned.write_bytes(b"tuned weights")
    judge = JudgeConfig(level=Level.STRUCTURE, repairs=2)
    capped = dageval.PromptSet(name="benchmark", prompts=requests, judge=judge, base_repairs=0)
    assert capped.base_judge().repairs == 0 and capped.judge.repairs == 2
    assert capped.model_copy(update={"base_repairs": 5}).base_judge() == judge  # never more than the tuned model's

    def serve(model: Path) -> AbstractContextManager[str]:
        return _endpoint(good=model == tuned)

    (found,) = dageval.run_experiments(base, tuned, [capped], tmp_path / "eval", serve=serve)
    assert found.base.repairs == [] and [row.repairs for row in found.tuned.repairs] == [0, 1, 2]
    samples = found.base.read_samples()
    assert len(samples) == 3 and all(not s.repairs for s in samples)  # one answer each, no retry asked
    assert found.comparisons[-1].base_only == 0 and found.comparisons[-1].tuned_only == 3
    with pytest.raises(ValueError, match="base_repairs"):
        dageval.PromptSet(name="benchmark", prompts=requests, base_repairs=-1)


def test_a_models_prompt_sets_may_be_asked_at_once(tmp_path: Path) -> None:
    # Each served model answers a request only once a request of the other set has arrived too: were the sets asked
    # one after the other, the first set's request would wait out the barrier alone.
    sets = []
    for name in ("benchmark", "heldout"):
        prompts = tmp_path / f"{name}.jsonl"
        prompts.write_text(json.dumps({"id": f"{name}0", "request": "a DAG", "airflow_version": "3.1"}) + "\n")
        sets.append(dageval.PromptSet(name=name, prompts=prompts, judge=JudgeConfig(level=Level.STRUCTURE)))
    base, tuned = tmp_path / "base.gguf", tmp_path / "tuned.gguf"
    base.write_bytes(b"base weights")
    tuned.write_bytes(b"tuned weights")
    met: list[bool] = []

    @contextmanager
    def serve(model: Path) -> Iterator[str]:
        both = threading.Barrier(2)

        def meet() -> None:
            try:
                both.wait(timeout=20)
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)

        with _endpoint(good=True, before_answer=meet) as url:
            yield url

    for name, model in (("base", base), ("tuned", tuned)):
        judged = dageval.judge_sets(name, model, sets, tmp_path / "eval", serve=serve, at_once=True)
        assert [j.folder for j in judged] == [tmp_path / "eval" / s.name / name for s in sets]
        assert [j.summary.levels[-1].passed for j in judged] == [1, 1]
    assert met == [True] * 4  # two models, each with one request of each set in flight together
