"""The live generator over real HTTP (a local OpenAI-compatible endpoint), and the runtime helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import dageval
from dagcore import DEFAULT_CONTRACT, PromptContract
from dageval import GenerateConfig, GenerationError, Level, RuntimeUnavailableError
from dageval.runtime import Runtime, resolve_version

GOOD = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="{id}", schedule=None):
    EmptyOperator(task_id="a")
"""


class Endpoint:
    """A small OpenAI-compatible chat endpoint: answers by the request's seed, counts calls, fails on demand."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = 0
        self.contract: dict[str, str] | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # dagserve says which contract its model was trained with
                found = self.path == "/v1/dagserve/contract" and owner.contract is not None
                data = json.dumps(owner.contract if found else {"error": {"message": "no"}}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.calls.append({"body": body, "auth": self.headers.get("Authorization")})
                if owner.fail_first > 0:
                    owner.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                seed = body["seed"]
                user = body["messages"][-1]["content"]
                if seed % 2:  # odd samples are cut off by the token limit
                    content, finish = "```python\nfrom airflow.sdk import DAG\nwith DAG(", "length"
                else:
                    content, finish = f"Sure:\n```python\n{GOOD.format(id=abs(hash(user)) % 1000)}```", "stop"
                payload = {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.server.shutdown()


@pytest.fixture
def prompt_set(tmp_path: Path) -> Path:
    """Rows as dagdata writes test.jsonl: system, user, and the reference answer."""
    rows = [
        {
            "id": f"r{i}",
            "airflow_version": None,
            "messages": [
                {"role": "system", "content": "You write Airflow DAGs."},
                {"role": "user", "content": f"Make DAG number {i}.\n\nTarget: Apache Airflow 3.1"},
                {"role": "assistant", "content": "```python\nreference\n```"},
            ],
        }
        for i in range(3)
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_n_samples_per_prompt_without_the_reference_answer(
    endpoint: Endpoint, prompt_set: Path, tmp_path: Path
) -> None:
    prompts = dageval.read_prompts(prompt_set)
    assert [p.airflow_version for p in prompts] == ["3.1"] * 3
    config = GenerateConfig(endpoint=endpoint.url, n=2, api_key="k")
    samples = dageval.generate(prompts, config, tmp_path / "out" / "completions.jsonl")
    assert len(samples) == 6 and len(endpoint.calls) == 6
    assert all(c["body"]["messages"][-1]["role"] == "user" for c in endpoint.calls)
    assert all(c["auth"] == "Bearer k" and c["body"]["temperature"] == 0.8 for c in endpoint.calls)
    verdicts = dageval.evaluate(samples, level=Level.LINT)
    summary = dageval.summarize(verdicts, Level.LINT)
    assert summary.samples == 6
    truncated = [v for v in verdicts if v.failure and v.failure.category == "truncated"]
    assert len(truncated) == 3  # finish_reason=length travels with the sample
    assert summary.pass_at_k["lint"]["pass@1"] == pytest.approx(0.5)
    assert summary.pass_at_k["lint"]["pass@2"] == pytest.approx(1.0)


def test_a_killed_run_resumes_without_asking_again(endpoint: Endpoint, prompt_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "completions.jsonl"
    prompts = dageval.read_prompts(prompt_set)
    first = dageval.generate(prompts[:2], GenerateConfig(endpoint=endpoint.url), out)
    with out.open("a") as handle:
        handle.write('{"id": "r2#0", "messa')  # a line cut by a kill mid-write
    asked = len(endpoint.calls)
    again = dageval.generate(prompts, GenerateConfig(endpoint=endpoint.url), out)
    assert len(endpoint.calls) - asked == 1  # only the missing one
    assert [s.id for s in again[:2]] == [s.id for s in first]
    assert endpoint.calls[-1]["body"]["temperature"] == 0.0  # greedy for n=1


def test_retries_then_a_clear_error(endpoint: Endpoint, prompt_set: Path, tmp_path: Path) -> None:
    endpoint.fail_first = 2
    samples = dageval.generate(
        dageval.read_prompts(prompt_set)[:1], GenerateConfig(endpoint=endpoint.url), tmp_path / "a"
    )
    assert len(samples) == 1
    endpoint.fail_first = 100
    with pytest.raises(GenerationError, match="kept failing"):
        dageval.generate(
            dageval.read_prompts(prompt_set)[:1], GenerateConfig(endpoint=endpoint.url, retries=1), tmp_path / "b"
        )


def test_bad_prompt_sets_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no prompt"}\n')
    with pytest.raises(dageval.InputError, match="needs `messages` or `prompt`"):
        dageval.read_prompts(bad)
    with pytest.raises(dageval.InputError, match="does not exist"):
        dageval.read_prompts(tmp_path / "missing.jsonl")


def test_versions_and_constraints(tmp_path: Path) -> None:
    assert resolve_version("2.10.5") == "2.10.5"
    with pytest.raises(RuntimeUnavailableError, match=r"like 2\.10\.5"):
        resolve_version("latest")
    runtime = Runtime("3.1.3", tmp_path, constraints=str(tmp_path / "c.txt"))
    runtime.dir.mkdir(parents=True)
    (tmp_path / "c.txt").write_text("apache-airflow==3.1.3\npendulum==3.1.0\n")
    assert runtime._fetch_constraints() == str(tmp_path / "c.txt")
    # Airflow's own pin is dropped: the version asked for is installed beside the constraints.
    assert runtime.constraints_file.read_text() == "pendulum==3.1.0\n"
    missing = Runtime("3.1.3", tmp_path, constraints=str(tmp_path / "nope.txt"))
    with pytest.raises(RuntimeUnavailableError, match="cannot read the constraints"):
        missing._fetch_constraints()


def test_the_first_state_format_is_still_read(tmp_path: Path) -> None:
    runtime = Runtime("3.1.3", tmp_path)
    runtime.dir.mkdir(parents=True)
    runtime.state_file.write_text(json.dumps({"apache-airflow-providers-google": True}))
    assert runtime.ensure().providers == {"apache-airflow-providers-google": True}
    assert [i.version for i in dageval.installed_runtimes(tmp_path)] == ["3.1.3"]


def test_the_runtime_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from dageval.cli import main

    assert main(["runtime", "list", "--root", str(tmp_path)]) == 0
    assert "no Airflow runtime installed" in capsys.readouterr().out
    assert main(["runtime", "install", "not-a-version", "--root", str(tmp_path)]) == 1
    assert "like 2.10.5" in capsys.readouterr().err


def test_a_dataset_request_is_stated_by_the_served_models_own_contract(endpoint: Endpoint, tmp_path: Path) -> None:
    row = {"id": "q", "request": "Copy S3 to GCS nightly.", "airflow_version": "2.10.5", "messages": []}
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(row) + "\n")
    [prompt] = dageval.read_prompts(path)
    assert prompt.request == "Copy S3 to GCS nightly." and prompt.airflow_version == "2.10.5"
    own = PromptContract(system="Only DAGs.", user_template="[Airflow {airflow_version}] {request}")
    endpoint.contract = own.model_dump()
    dageval.generate([prompt], GenerateConfig(endpoint=endpoint.url), tmp_path / "own.jsonl")
    assert endpoint.calls[-1]["body"]["messages"] == own.messages("Copy S3 to GCS nightly.", "2.10")
    endpoint.contract = None  # another server: the default contract
    dageval.generate([prompt], GenerateConfig(endpoint=endpoint.url), tmp_path / "default.jsonl")
    assert endpoint.calls[-1]["body"]["messages"] == DEFAULT_CONTRACT.messages("Copy S3 to GCS nightly.", "2.10")
    saved = json.loads((tmp_path / "own.jsonl").read_text())
    assert saved["airflow_version"] == "2.10.5" and saved["messages"][0]["content"] == own.system_message("2.10")
