"""The fake servers work with the real SDKs over real HTTP: `anthropic.Anthropic` against `FakeAnthropic`,
plain `httpx` against `FakeOpenAI`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam, TextBlock
from anthropic.types.messages import (
    MessageBatchErroredResult,
    MessageBatchIndividualResponse,
    MessageBatchSucceededResult,
)
from anthropic.types.messages.batch_create_params import Request

from .fake_anthropic import FakeAnthropic, Outcome, default_responder, usage_for
from .fake_openai import FakeOpenAI

MODEL = "claude-fake-1"


@pytest.fixture(autouse=True)
def _no_anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def make_client(fake: FakeAnthropic, *, max_retries: int = 2, api_key: str = "test-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=api_key, base_url=fake.base_url, max_retries=max_retries)


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with make_client(fake) as sdk:
        yield sdk


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def req(custom_id: str, text: str = "Describe this DAG please", max_tokens: int = 256) -> Request:
    return {"custom_id": custom_id, "params": {"model": MODEL, "max_tokens": max_tokens, "messages": user(text)}}


def results_by_id(client: anthropic.Anthropic, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    return {r.custom_id: r for r in client.messages.batches.results(batch_id)}


# ---- FakeAnthropic: messages ------------------------------------------------------------------------------------


def test_messages_create(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=100, system="You are terse.", messages=user("Summarise the example_bash_operator DAG")
    )
    block = message.content[0]
    assert isinstance(block, TextBlock)
    assert block.text == "Fake answer to: Summarise the example_bash_operator DAG"[: len("Fake answer to: ") + 40]
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.role == "assistant"
    # usage: characters // 4, computed by hand
    assert message.usage.input_tokens == (len("You are terse.") + len("Summarise the example_bash_operator DAG")) // 4
    assert message.usage.output_tokens == len(block.text) // 4
    params = fake.message_requests[0]
    assert (message.usage.input_tokens, message.usage.output_tokens) == usage_for(params, block.text)
    assert fake.calls == [("POST", "/v1/messages", 200)]
    assert fake.requests[0].headers["authorization"] == "Bearer test-key"
    assert fake.requests[0].headers["anthropic-version"]


def test_responder_and_max_tokens_cut() -> None:
    seen: list[str] = []

    def responder(params: dict[str, object]) -> str:
        seen.append(str(params["model"]))
        return "x" * 100

    with FakeAnthropic(responder=responder) as fake, make_client(fake) as client:
        message = client.messages.create(model=MODEL, max_tokens=5, messages=user("hi"))
    block = message.content[0]
    assert isinstance(block, TextBlock)
    assert block.text == "x" * 20
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    assert seen == [MODEL]


def test_invalid_message_params_are_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
    assert info.value.status_code == 400
    assert info.value.body["type"] == "error"  # type: ignore[index]
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "messages" in info.value.body["error"]["message"]  # type: ignore[index]


# ---- FakeAnthropic: batches -------------------------------------------------------------------------------------


def test_batch_lifecycle_and_results(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("dag-a", "alpha"), req("dag-b", "beta"), req("dag_c")])
    assert batch.type == "message_batch"
    assert batch.id.startswith("msgbatch_")
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3
    assert batch.results_url is None
    assert batch.ended_at is None
    assert batch.expires_at > batch.created_at
    assert fake.submitted == [(batch.id, "dag-a"), (batch.id, "dag-b"), (batch.id, "dag_c")]

    first = client.messages.batches.retrieve(batch.id)  # polls_in_progress=1: still in progress
    assert first.processing_status == "in_progress"
    done = client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended"
    assert done.ended_at is not None
    assert done.results_url == f"{fake.base_url}/v1/messages/batches/{batch.id}/results"
    counts = done.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.expired, counts.canceled) == (0, 3, 0, 0, 0)

    results = results_by_id(client, batch.id)
    assert sorted(results) == ["dag-a", "dag-b", "dag_c"]
    result = results["dag-a"].result
    assert result.type == "succeeded"
    assert isinstance(result, MessageBatchSucceededResult)
    block = result.message.content[0]
    assert isinstance(block, TextBlock)
    assert block.text == "Fake answer to: alpha"
    assert result.message.usage.output_tokens == len("Fake answer to: alpha") // 4
    assert result.message.usage.input_tokens == len("alpha") // 4
    assert fake.calls[-1] == ("GET", f"/v1/messages/batches/{batch.id}/results", 200)
    assert fake.attempts == {"dag-a": 1, "dag-b": 1, "dag_c": 1}


def test_results_right_away_with_no_polls() -> None:
    with FakeAnthropic(polls_in_progress=0, reverse_results=True) as fake, make_client(fake) as sdk:
        batch = sdk.messages.batches.create(requests=[req("one"), req("two")])
        ids = [r.custom_id for r in sdk.messages.batches.results(batch.id)]  # its retrieve ends the batch
    assert ids == ["two", "one"]


def test_results_before_the_batch_ends(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.polls_in_progress = 5
    batch = client.messages.batches.create(requests=[req("one")])
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        client.messages.batches.results(batch.id)
    fake.end_batch(batch.id)
    assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["one"]


def test_list_batches_paginates_newest_first(client: anthropic.Anthropic) -> None:
    created = [client.messages.batches.create(requests=[req(f"r{i}")]).id for i in range(5)]
    newest_first = created[::-1]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2]
    assert page.has_more is True
    assert (page.first_id, page.last_id) == (newest_first[0], newest_first[1])
    assert [b.id for b in client.messages.batches.list(limit=2)] == newest_first  # auto-pagination via after_id
    after = client.messages.batches.list(limit=10, after_id=newest_first[1])
    assert [b.id for b in after.data] == newest_first[2:]
    assert after.has_more is False
    before = client.messages.batches.list(limit=1, before_id=newest_first[2])
    assert [b.id for b in before.data] == [newest_first[1]]
    assert before.has_more is True


def test_cancel(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("a"), req("b")])
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.canceled == 2
    assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}
    assert client.messages.batches.cancel(batch.id).processing_status == "ended"  # unchanged
    assert fake.count_calls("POST", r"/cancel$") == 2


def test_delete_and_not_found(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("a")])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)
    fake.end_batch(batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.batches.retrieve(batch.id)
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_duplicate_custom_id_is_rejected(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.create(requests=[req("same"), req("other"), req("same")])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "same" in info.value.body["error"]["message"]  # type: ignore[index]
    assert fake.batches == {}
    assert fake.submitted == []


@pytest.mark.parametrize("custom_id", ["has space", "x" * 65, "", "dots.are.bad", "slash/no"])
def test_invalid_custom_id_is_rejected(client: anthropic.Anthropic, custom_id: str) -> None:
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[req(custom_id)])


def test_longest_valid_custom_id(client: anthropic.Anthropic) -> None:
    custom_id = "A-z_9" * 12 + "abcd"
    assert len(custom_id) == 64
    client.messages.batches.create(requests=[req(custom_id)])


def test_error_once_and_expire_once(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.error_once(["a"])
    fake.expire_once(["b"])
    batch = client.messages.batches.create(requests=[req("a"), req("b"), req("c")])
    fake.end_batch(batch.id)
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.succeeded, counts.errored, counts.expired) == (1, 1, 1)
    results = results_by_id(client, batch.id)
    errored = results["a"].result
    assert isinstance(errored, MessageBatchErroredResult)
    assert errored.error.type == "error"
    assert errored.error.error.type == "api_error"
    assert errored.error.error.message
    assert results["b"].result.type == "expired"
    assert results["c"].result.type == "succeeded"

    retry = client.messages.batches.create(requests=[req("a"), req("b")])
    fake.end_batch(retry.id)
    assert {r.custom_id: r.result.type for r in client.messages.batches.results(retry.id)} == {
        "a": "succeeded",
        "b": "succeeded",
    }
    assert fake.attempts == {"a": 2, "b": 2, "c": 1}
    assert fake.submitted_ids() == ["a", "b", "c", "a", "b"]


def test_outcome_for() -> None:
    def outcome_for(custom_id: str, attempt: int) -> Outcome:
        if custom_id.startswith("flaky") and attempt == 1:
            return "errored"
        return "canceled" if custom_id == "gone" else "succeeded"

    with FakeAnthropic(outcome_for=outcome_for, polls_in_progress=0) as fake, make_client(fake) as client:
        first = client.messages.batches.create(requests=[req("flaky-1"), req("gone"), req("fine")])
        kinds = {r.custom_id: r.result.type for r in client.messages.batches.results(first.id)}
        assert kinds == {"flaky-1": "errored", "gone": "canceled", "fine": "succeeded"}
        second = client.messages.batches.create(requests=[req("flaky-1")])
        assert [r.result.type for r in client.messages.batches.results(second.id)] == ["succeeded"]


def test_invalid_params_in_a_batch_are_errored_results(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    bad: Request = {"custom_id": "bad", "params": {"model": MODEL, "max_tokens": 0, "messages": user("x")}}
    batch = client.messages.batches.create(requests=[bad, req("good")])
    fake.end_batch(batch.id)
    results = results_by_id(client, batch.id)
    result = results["bad"].result
    assert isinstance(result, MessageBatchErroredResult)
    assert result.error.error.type == "invalid_request_error"
    assert results["good"].result.type == "succeeded"


# ---- FakeAnthropic: auth and faults -----------------------------------------------------------------------------


def test_wrong_key_is_401(fake: FakeAnthropic) -> None:
    with make_client(fake, api_key="wrong") as client, pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert fake.calls == [("POST", "/v1/messages", 401)]  # 401 is not retried


def test_raw_http_auth_and_version(fake: FakeAnthropic) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": user("hi")}
    url = f"{fake.base_url}/v1/messages"
    missing = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert missing.status_code == 401
    assert missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "authentication_error"
    assert missing.headers["request-id"]
    ok = httpx.post(url, json=body, headers={"x-api-key": "test-key", "anthropic-version": "2023-06-01"})
    assert ok.status_code == 200
    assert ok.json()["content"] == [{"type": "text", "text": "Fake answer to: hi"}]
    no_version = httpx.post(url, json=body, headers={"x-api-key": "test-key"})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"


def test_any_key_when_api_key_is_none() -> None:
    with FakeAnthropic(api_key=None) as fake, make_client(fake, api_key="whatever") as client:
        assert client.messages.create(model=MODEL, max_tokens=10, messages=user("hi")).content


@pytest.mark.parametrize(
    ("status", "error_type"), [(529, "overloaded_error"), (500, "api_error"), (429, "rate_limit_error")]
)
def test_sdk_retries_injected_errors(
    fake: FakeAnthropic, client: anthropic.Anthropic, status: int, error_type: str
) -> None:
    fake.fail_next("POST", r"^/v1/messages$", status, count=2)
    started = time.monotonic()
    message = client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    assert time.monotonic() - started < 1.0  # the retry-after-ms header keeps the SDK's backoff short
    assert message.content
    assert fake.calls == [
        ("POST", "/v1/messages", status),
        ("POST", "/v1/messages", status),
        ("POST", "/v1/messages", 200),
    ]
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]
    assert fake.pending_faults == 0
    assert len(fake.message_requests) == 1


def test_retries_run_out(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.fail_next("POST", r"/batches$", 529, count=3)
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.batches.create(requests=[req("a")])
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert fake.count_calls("POST", r"/batches$") == 3
    assert fake.batches == {}
    assert fake.submitted == []


def test_rate_limit_headers_and_error_type(fake: FakeAnthropic) -> None:
    fake.fail_next("*", r".", 429)
    with make_client(fake, max_retries=0) as client, pytest.raises(anthropic.RateLimitError) as info:
        client.messages.batches.list()
    assert info.value.response.headers["retry-after"] == "0"
    assert info.value.response.headers["retry-after-ms"] == "10"
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    fake.fail_next("GET", r"/batches", 503, headers={"x-custom": "1"}, error_type="overloaded_error", message="busy")
    raw = httpx.get(f"{fake.base_url}/v1/messages/batches")
    assert raw.status_code == 503
    assert raw.headers["x-custom"] == "1"
    assert "retry-after-ms" not in raw.headers
    assert raw.json() == {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}


def test_sdk_honours_retry_after_ms(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.fail_next("GET", r"^/v1/messages/batches$", 529, headers={"retry-after-ms": "300"})
    started = time.monotonic()
    client.messages.batches.list()
    assert 0.3 <= time.monotonic() - started < 1.0
    assert [s for _, _, s in fake.calls] == [529, 200]


def test_concurrent_batch_creates(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    def create(i: int) -> str:
        return client.messages.batches.create(requests=[req(f"t{i}-a"), req(f"t{i}-b")]).id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(create, range(8)))
    assert len(set(ids)) == 8
    assert sorted(fake.batches) == sorted(ids)
    custom_ids = fake.submitted_ids()
    assert len(custom_ids) == len(set(custom_ids)) == 16
    assert all(fake.batches[batch_id].custom_ids == [c for b, c in fake.submitted if b == batch_id] for batch_id in ids)


def test_faults_only_hit_matching_requests(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.fail_next("GET", r"^/v1/messages/batches/", 500)
    batch = client.messages.batches.create(requests=[req("a")])  # POST: not matched
    client.messages.batches.retrieve(batch.id)  # GET: fails once, the SDK retries
    assert [s for _, _, s in fake.calls] == [200, 500, 200]


def test_failure_after_processing_shows_duplicate_submission(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.fail_next("POST", r"/batches$", 500, after_processing=True)
    client.messages.batches.create(requests=[req("a")])  # created, answered 500, retried by the SDK: created again
    assert len(fake.batches) == 2
    assert fake.submitted_ids() == ["a", "a"]
    assert fake.attempts["a"] == 2


def test_concurrent_sdk_calls(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(
            pool.map(lambda i: client.messages.create(model=MODEL, max_tokens=50, messages=user(f"q{i}")), range(8))
        )
    assert len(texts) == 8
    assert len(fake.message_requests) == 8
    assert default_responder({"messages": user("q1")}) == "Fake answer to: q1"


# ---- FakeOpenAI -------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def chat_body(text: str, **extra: object) -> dict[str, object]:
    return {
        "model": "fake-model",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        **extra,
    }


def test_openai_chat_completion(fake_openai: FakeOpenAI) -> None:
    response = httpx.post(f"{fake_openai.api_base}/chat/completions", json=chat_body("Explain this DAG"))
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Fake answer to: Explain this DAG", "refusal": None}
    assert choice["finish_reason"] == "stop"
    prompt, completion = len("Be brief.Explain this DAG") // 4, len("Fake answer to: Explain this DAG") // 4
    assert data["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    models = httpx.get(f"{fake_openai.base_url}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["fake-model"]
    assert fake_openai.calls == [("POST", "/v1/chat/completions", 200), ("GET", "/v1/models", 200)]
    assert len(fake_openai.completions) == 1


def test_openai_length_and_validation(fake_openai: FakeOpenAI) -> None:
    url = f"{fake_openai.base_url}/v1/chat/completions"
    cut = httpx.post(url, json=chat_body("a long question about the DAG", max_tokens=2)).json()["choices"][0]
    assert (cut["message"]["content"], cut["finish_reason"]) == ("Fake ans", "length")
    stream = httpx.post(url, json=chat_body("x", stream=True))
    assert stream.status_code == 400
    assert stream.json()["error"]["type"] == "invalid_request_error"
    assert httpx.post(url, json={"model": "fake-model", "messages": []}).status_code == 400


def test_openai_auth_and_custom_responder() -> None:
    with FakeOpenAI(api_key="sk-test", responder=lambda body: f"{len(body['messages'])} messages") as fake:
        url = f"{fake.api_base}/chat/completions"
        denied = httpx.post(url, json=chat_body("hi"))
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "invalid_api_key"
        ok = httpx.post(url, json=chat_body("hi"), headers={"Authorization": "Bearer sk-test"})
        assert ok.json()["choices"][0]["message"]["content"] == "2 messages"


def test_openai_fail_next(fake_openai: FakeOpenAI) -> None:
    url = f"{fake_openai.base_url}/v1/chat/completions"
    fake_openai.fail_next("POST", r"/chat/completions$", 429)
    fake_openai.fail_next("POST", r"/chat/completions$", 500)
    limited = httpx.post(url, json=chat_body("hi"))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0"
    assert limited.headers["retry-after-ms"] == "10"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    failed = httpx.post(url, json=chat_body("hi"))
    assert failed.status_code == 500
    assert failed.headers["retry-after"] == "0"
    assert failed.json()["error"]["type"] == "server_error"
    assert httpx.post(url, json=chat_body("hi")).status_code == 200
    assert [s for _, _, s in fake_openai.calls] == [429, 500, 200]
    assert fake_openai.pending_faults == 0


def test_openai_tracks_concurrency() -> None:
    with FakeOpenAI(delay=0.2) as fake, httpx.Client(base_url=fake.api_base) as http:
        lock = threading.Lock()
        contents: list[str] = []

        def ask(i: int) -> None:
            response = http.post("/chat/completions", json=chat_body(f"question {i}"))
            with lock:
                contents.append(response.json()["choices"][0]["message"]["content"])

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(ask, range(6)))
        assert fake.max_in_flight == 3
        assert fake.in_flight == 0
        assert sorted(contents) == sorted(f"Fake answer to: question {i}" for i in range(6))
        fake.reset_max_in_flight()
        assert fake.max_in_flight == 0
