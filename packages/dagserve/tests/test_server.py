"""The server over real HTTP, driven by the official `openai` client where it can be."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest

ServeTiny = Callable[..., AbstractContextManager[str]]
Idle = Callable[[str], dict[str, int]]


def _client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def _chat(client: openai.OpenAI, prompt: str, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": prompt}], temperature=0.0, **kwargs
    )


def test_models_health_and_contract(server: str) -> None:
    models = _client(server).models.list().data
    assert [m.id for m in models] == ["tiny"]
    card = httpx.get(f"{server}/v1/models").json()["data"][0]
    assert card["contract"]["system"] == "You write Airflow DAGs for tests."
    assert card["meta"]["n_ctx"] == 8192 and card["meta"]["chat_template"] == "gguf"
    assert httpx.get(f"{server}/v1/dagserve/contract").json()["user_template"].startswith("Request: ")
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and health["slots"] == 4


def test_chat_streaming_matches_non_streaming(server: str) -> None:
    client = _client(server)
    whole = _chat(client, "Write a DAG.", max_tokens=24)
    choice = whole.choices[0]
    assert choice.finish_reason == "length" and choice.message.role == "assistant"
    assert whole.usage.completion_tokens == 24 and whole.usage.prompt_tokens > 5
    chunks = list(_chat(client, "Write a DAG.", max_tokens=24, stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == choice.message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24


def test_completions_stop_strings_and_eos(server: str) -> None:
    client = _client(server)
    full = client.completions.create(model="tiny", prompt="the dag", max_tokens=30, temperature=0.0)
    text = full.choices[0].text
    assert len(text) > 10 and full.choices[0].finish_reason == "length"
    stop = text[6:9]
    cut = client.completions.create(model="tiny", prompt="the dag", max_tokens=30, temperature=0.0, stop=[stop])
    assert cut.choices[0].text == text[: text.index(stop)] and cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model="tiny", prompt="the dag", max_tokens=30, temperature=0.0, stop=[stop], stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == cut.choices[0].text
    # Forcing the end-of-turn token: generation ends there, with nothing shown.
    eos_id = 272
    ended = _chat(client, "hi", max_tokens=30, logit_bias={str(eos_id): 100})
    assert ended.choices[0].finish_reason == "stop" and ended.choices[0].message.content == ""


def test_sampling_with_a_seed_repeats_and_multibyte_text_streams_whole(server: str) -> None:
    client = _client(server)
    kwargs: dict[str, Any] = {"model": "tiny", "prompt": "x", "max_tokens": 120, "temperature": 2.0, "seed": 11}
    one = client.completions.create(**kwargs).choices[0].text
    two = client.completions.create(**kwargs).choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(stream=True, **kwargs))
    assert one == two == streamed
    assert not one.isalpha()  # at this temperature the byte tokens come out too


def test_parallel_requests_equal_their_sequential_answers(server: str, idle: Idle) -> None:
    client = _client(server)
    prompts = [f"Request number {i}: {'move files ' * i}" for i in range(8)]
    # Decoding a token alone or in a batch rounds differently in the last bit, so two greedy paths can part at
    # a near-tie (llama.cpp's own server behaves alike). With this tiny model the first one comes after ~36
    # tokens of prompt 6: 30 tokens keep the comparison exact.
    sequential = [_chat(client, p, max_tokens=30).choices[0].message.content for p in prompts]
    assert len(set(sequential)) == len(prompts)
    barrier = threading.Barrier(len(prompts))

    def run(prompt: str) -> str:
        barrier.wait()
        return str(_chat(client, prompt, max_tokens=30).choices[0].message.content)

    with ThreadPoolExecutor(len(prompts)) as pool:
        parallel = list(pool.map(run, prompts))
    assert parallel == sequential
    assert idle(server)["failed"] == 0


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(server: str) -> None:
    url = f"{server}/v1/chat/completions"
    cases: list[tuple[Any, int, str]] = [
        (b'{"messages": [', 400, "invalid_json"),
        ({"model": "tiny"}, 400, "invalid_request"),
        ({"messages": "hello"}, 400, "invalid_request"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, 400, "invalid_request"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "invalid_request"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}, 400, "max_tokens_too_large"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "invalid_request"),
        ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "unsupported"),
        ({"messages": [{"role": "user", "content": "word " * 9000}]}, 400, "context_length_exceeded"),
        ([1, 2], 400, "invalid_request"),
    ]
    for body, status, code in cases:
        response = httpx.post(url, content=body) if isinstance(body, bytes) else httpx.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["type"], body
    assert httpx.post(url, content=b"x" * (9 * 1024 * 1024)).status_code == 413
    assert httpx.get(f"{server}/v1/nothing").status_code == 404
    with pytest.raises(openai.BadRequestError, match="context"):
        _client(server).completions.create(model="tiny", prompt="word " * 9000, max_tokens=5)
    assert _chat(_client(server), "still there?", max_tokens=5).choices[0].message.content


def test_full_queue_answers_503_with_retry_after(serve_tiny: ServeTiny, idle: Idle) -> None:
    long: dict[str, Any] = {"prompt": "a", "max_tokens": 8000, "ignore_eos": True, "stream": True}
    with serve_tiny(ctx=8192, parallel=1, queue=1) as url, httpx.Client(base_url=url, timeout=60) as http:
        with http.stream("POST", "/v1/completions", json=long) as running:
            lines = running.iter_lines()  # kept: dropping the iterator would close the connection
            next(lines)  # decoding in the only slot
            with http.stream("POST", "/v1/completions", json=long) as waiting:
                assert waiting.status_code == 200  # queued (its headers come at once)
                refused = http.post("/v1/completions", json=long)
                assert refused.status_code == 503
                assert refused.headers["Retry-After"] == "1"
                assert refused.json()["error"]["code"] == "server_busy"
        stats = idle(url)  # both streams were closed mid-way: their work is dropped
        assert stats["cancelled"] == 2
        assert http.post("/v1/completions", json={"prompt": "a", "max_tokens": 4}).status_code == 200


def test_a_client_that_leaves_frees_its_slot(serve_tiny: ServeTiny, idle: Idle) -> None:
    long: dict[str, Any] = {"messages": [{"role": "user", "content": "go"}], "max_tokens": 8000, "ignore_eos": True}
    with serve_tiny(ctx=8192, parallel=1, queue=0) as url:
        with (
            httpx.Client(base_url=url, timeout=60) as http,
            http.stream("POST", "/v1/chat/completions", json={**long, "stream": True}) as response,
        ):
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            assert next(lines) == ""
        assert idle(url)["cancelled"] == 1
        # Not streaming: the client gives up waiting; the server notices the closed connection.
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=long, timeout=0.3)
        stats = idle(url)
        assert stats["cancelled"] == 2 and stats["completed"] == 0
        answer = _chat(_client(url), "next", max_tokens=3)
        assert answer.choices[0].finish_reason == "length"


def test_api_key_is_required_on_v1(serve_tiny: ServeTiny) -> None:
    with serve_tiny(ctx=256, parallel=1, api_key="s3cret") as url:
        with pytest.raises(openai.AuthenticationError):
            _client(url, key="wrong").models.list()
        missing = httpx.get(f"{url}/v1/models")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        assert [m.id for m in _client(url, key="s3cret").models.list().data] == ["tiny"]
        assert _chat(_client(url, key="s3cret"), "hi", max_tokens=2).usage.completion_tokens == 2
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_prompt_that_starts_like_the_last_one_reuses_its_cache(serve_tiny: ServeTiny, idle: Idle) -> None:
    with serve_tiny(ctx=1024, parallel=1) as url:
        client = _client(url)
        messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A DAG."}]
        first = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0.0)
        again = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0.0)
        assert again.choices[0].message.content == first.choices[0].message.content
        n_prompt = first.usage.prompt_tokens
        assert idle(url)["cached_prompt_tokens"] == n_prompt - 1  # all but the last token, decoded for its logits
        # A repair turn: the whole earlier conversation is a prefix of the new prompt.
        messages += [
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "The code failed validation. Return the full corrected file."},
        ]
        client.chat.completions.create(model="tiny", messages=messages, max_tokens=4, temperature=0.0)
        assert idle(url)["cached_prompt_tokens"] >= 2 * n_prompt - 1
        # `cache_prompt: false` (llama.cpp's field) evaluates the whole prompt afresh, for reproducible answers
        before = idle(url)["cached_prompt_tokens"]
        fresh = client.chat.completions.create(
            model="tiny", messages=messages[:2], max_tokens=12, temperature=0.0, extra_body={"cache_prompt": False}
        )
        assert idle(url)["cached_prompt_tokens"] == before
        assert fresh.choices[0].message.content == first.choices[0].message.content
