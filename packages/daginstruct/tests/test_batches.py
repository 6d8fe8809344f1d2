"""The Anthropic batch backend through the real SDK over real HTTP, against a local fake of the API."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import daginstruct
from daginstruct import AnthropicBatchBackend, DagInput, InstructConfig, instruct, load_state
from daginstruct.backends.anthropic_batch import chunk

from .fake_anthropic import FakeAnthropic

KEY = "test-key"
GOOD = "Create an Airflow 2.10 DAG that copies the daily sales export to the warehouse at midnight."


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(responder=lambda params: GOOD, polls_in_progress=1) as server:
        yield server


def client(fake: FakeAnthropic, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=4, **kwargs)


class NoSleep:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def dags(n: int) -> list[DagInput]:
    return [
        DagInput(id=f"{i:016x}", code=f'from airflow import DAG\nDAG(dag_id="d{i}")\n', airflow_version="2.10.5")
        for i in range(n)
    ]


def backend(fake: FakeAnthropic, out: Path, **kwargs: Any) -> AnthropicBatchBackend:
    work = out / ".work" / "anthropic-batch-claude-haiku-4-5"
    work.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"poll_interval": 0.01, "clock": NoSleep()} | kwargs
    return AnthropicBatchBackend(client(fake), "claude-haiku-4-5", work, **options)


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "instructions.jsonl").read_text().splitlines()]


def test_results_complete_and_correct(fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.polls_in_progress = 3  # the batch stays in progress across polls
    clock = NoSleep()
    summary = instruct(dags(5), tmp_path, InstructConfig(per_dag=2), backend=backend(fake, tmp_path, clock=clock))
    assert (summary.requested, summary.written, summary.failed) == (10, 10, 0)
    assert summary.backend == "anthropic-batch"
    got = records(tmp_path)
    assert {r["custom_id"] for r in got} == set(fake.submitted_ids())
    assert all(r["text"] == GOOD and r["backend"] == "anthropic-batch" for r in got)
    assert all(r["usage"]["output_tokens"] == len(GOOD) // 4 for r in got)
    assert len(clock.sleeps) == 3 and clock.sleeps[1] == pytest.approx(1.5 * clock.sleeps[0])  # backoff
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 1
    # Half price: the usage the fake reported, at haiku's rates, halved.
    tokens_in = sum(r["usage"]["input_tokens"] for r in got)
    tokens_out = sum(r["usage"]["output_tokens"] for r in got)
    assert summary.cost_usd == pytest.approx(0.5 * (tokens_in * 1.0 + tokens_out * 5.0) / 1e6, abs=1e-6)


def test_errored_and_expired_requests_are_retried_in_a_new_batch(fake: FakeAnthropic, tmp_path: Path) -> None:
    ids = [f"{0:016x}-terse", f"{1:016x}-terse"]
    fake.error_once([ids[0]])
    fake.expire_once([ids[1]])
    summary = instruct(dags(3), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (3, 0)
    assert summary.rejects == {"errored": 1, "expired": 1}
    submitted = Counter(fake.submitted_ids())
    assert submitted == Counter({ids[0]: 2, ids[1]: 2, f"{2:016x}-terse": 1})  # only the failures again
    assert {r["custom_id"]: r["attempts"] for r in records(tmp_path)}[ids[0]] == 2


def test_bad_answers_are_rejected_and_asked_again(fake: FakeAnthropic, tmp_path: Path) -> None:
    answers = iter(["```python\nfrom airflow import DAG\n```", "Here is the request: " + GOOD])
    fake_params: list[dict[str, Any]] = []

    def responder(params: dict[str, Any]) -> str:
        fake_params.append(params)
        return next(answers, GOOD)

    with FakeAnthropic(responder=responder) as server:
        summary = instruct(dags(1), tmp_path, InstructConfig(styles=["terse"]), backend=backend(server, tmp_path))
    assert summary.rejects == {"contains_code": 1}
    [record] = records(tmp_path)
    assert record["text"] == GOOD and record["cleaned"] == ["preamble"] and record["attempts"] == 2
    assert fake_params[0]["system"].startswith("You write the request")


def test_server_errors_are_retried_by_the_sdk(fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.fail_next("POST", r"^/v1/messages/batches$", 529)
    fake.fail_next("GET", r"^/v1/messages/batches/[^/]+$", 500)
    fake.fail_next("GET", r"^/v1/messages/batches/[^/]+$", 429)
    summary = instruct(dags(2), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (2, 0)
    assert fake.pending_faults == 0
    assert Counter(fake.submitted_ids()) == Counter({f"{0:016x}-terse": 1, f"{1:016x}-terse": 1})


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", r"^/v1/messages/batches$"), ("GET", r"^/v1/messages/batches/[^/]+$")],
    ids=["create", "poll"],
)
def test_overload_past_the_sdk_retries_backs_off_then_stops_in_one_line_and_resumes(
    fake: FakeAnthropic, tmp_path: Path, method: str, path: str
) -> None:
    fake.fail_next(method, path, 529, count=10_000)
    clock = NoSleep()
    stalled = backend(fake, tmp_path, clock=clock, retry_budget=100)
    with pytest.raises(daginstruct.BackendError) as error:
        instruct(dags(3), tmp_path, InstructConfig(styles=["terse"]), backend=stalled)
    message = str(error.value)
    assert "\n" not in message and "overloaded (HTTP 529" in message, message
    assert "100 s" in message and "run the same command again to resume" in message
    assert clock.sleeps[:4] == [2, 4, 8, 16] and max(clock.sleeps) <= 60  # backing off, not hammering
    assert sum(clock.sleeps) == pytest.approx(100)  # and no longer than the budget
    assert fake.pending_faults > 0  # the SDK's retries (4 per call) gave up many times over
    fake.clear_faults()  # the API recovers; the same run again
    summary = instruct(dags(3), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (3, 0)
    assert sorted(Counter(fake.submitted_ids()).values()) == [1, 1, 1]  # nothing submitted twice
    accepted = [c for c in fake.calls if c[0] == "POST" and c[1] == "/v1/messages/batches" and c[2] == 200]
    assert len(accepted) == 1


class CrashAfterCreate:
    """A client whose process dies right after the server accepted a batch, before state is written."""

    def __init__(self, real: anthropic.Anthropic) -> None:
        self.real = real
        self.messages = self
        self.batches = self

    def create(self, **kwargs: Any) -> Any:
        self.real.messages.batches.create(**kwargs)
        raise Killed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real.messages.batches, name)


def test_no_duplicate_submission_after_a_crash_between_submit_and_state_write(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    crashing = backend(fake, tmp_path)
    crashing.client = CrashAfterCreate(crashing.client)
    with pytest.raises(Killed):
        instruct(dags(4), tmp_path, InstructConfig(styles=["terse"]), backend=crashing)
    state = load_state(crashing.work_dir)
    assert [i.batch_id for i in state.intents] == [None] and state.batches == {}

    summary = instruct(dags(4), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (4, 0)
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 1  # adopted, not submitted again
    assert sorted(Counter(fake.submitted_ids()).values()) == [1, 1, 1, 1]


def test_an_intent_the_server_never_saw_is_submitted(fake: FakeAnthropic, tmp_path: Path) -> None:
    crashing = backend(fake, tmp_path)
    crashing.client.messages.batches.create = _die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        instruct(dags(2), tmp_path, InstructConfig(styles=["terse"]), backend=crashing)
    summary = instruct(dags(2), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert summary.written == 2
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 1


def _die(**kwargs: Any) -> Any:
    raise Killed


class KillOnSleep(NoSleep):
    def sleep(self, seconds: float) -> None:
        raise Killed


def test_kill_during_polling_then_resume(fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.polls_in_progress = 2
    with pytest.raises(Killed):
        instruct(dags(3), tmp_path, InstructConfig(per_dag=2), backend=backend(fake, tmp_path, clock=KillOnSleep()))
    summary = instruct(dags(3), tmp_path, InstructConfig(per_dag=2), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (6, 0)
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 1
    assert sorted(Counter(fake.submitted_ids()).values()) == [1] * 6


def test_kill_while_collecting_loses_nothing(
    fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daginstruct import store as store_module

    added: list[str] = []
    real_add = store_module.Store.add

    def add_then_die(self: store_module.Store, instruction: daginstruct.Instruction) -> None:
        real_add(self, instruction)
        added.append(instruction.custom_id)
        if len(added) == 2:
            raise Killed

    monkeypatch.setattr(store_module.Store, "add", add_then_die)
    with pytest.raises(Killed):
        instruct(dags(5), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    monkeypatch.setattr(store_module.Store, "add", real_add)
    summary = instruct(dags(5), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path))
    assert (summary.written, summary.failed) == (5, 0)
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 1
    lines = (tmp_path / ".work" / "anthropic-batch-claude-haiku-4-5" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5  # the two stored before the kill were not stored again


def test_batches_are_split_within_limits(fake: FakeAnthropic, tmp_path: Path) -> None:
    summary = instruct(
        dags(7), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path, max_requests=3)
    )
    assert summary.written == 7
    assert fake.count_calls("POST", r"^/v1/messages/batches$") == 3
    items = [{"custom_id": str(i), "params": {"x": "y" * 100}} for i in range(10)]
    sizes = [len(part) for part in chunk(items, 100, 500)]
    assert sum(sizes) == 10 and max(sizes) <= 4


def test_cancel_then_collect(fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.polls_in_progress = 100
    with pytest.raises(Killed):
        instruct(
            dags(2), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path, clock=KillOnSleep())
        )
    cancelled = backend(fake, tmp_path).cancel()
    assert len(cancelled) == 1
    summary = instruct(
        dags(2), tmp_path, InstructConfig(styles=["terse"]), backend=backend(fake, tmp_path, max_attempts=1)
    )
    assert summary.rejects == {"canceled": 2}
    assert summary.failed == 2  # with attempts left, a later run would submit them again


def test_config_path_reads_the_key_from_the_environment_only(
    fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    config = InstructConfig(base_url=fake.base_url, poll_interval=0.01, styles=["terse"])  # backend auto
    summary = instruct(dags(2), tmp_path, config)
    assert (summary.backend, summary.written) == ("anthropic-batch", 2)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(), path


def test_sync_messages_backend(fake: FakeAnthropic, tmp_path: Path) -> None:
    sync = daginstruct.AnthropicMessagesBackend(client(fake), "claude-haiku-4-5", concurrency=2)
    summary = instruct(dags(3), tmp_path, InstructConfig(styles=["terse", "business"]), backend=sync)
    assert (summary.written, summary.backend) == (6, "anthropic")
    assert summary.cost_usd is not None and summary.cost_usd > 0
    assert fake.count_calls("POST", r"^/v1/messages$") == 6


@pytest.mark.network
def test_real_anthropic_batch(tmp_path: Path) -> None:  # pragma: no cover - needs a real key
    import os

    if not os.environ.get("ANTHROPIC_API_KEY"):
        pytest.skip("ANTHROPIC_API_KEY not set")
    summary = instruct(dags(1), tmp_path, InstructConfig(styles=["terse"], poll_interval=10))
    assert summary.written == 1
