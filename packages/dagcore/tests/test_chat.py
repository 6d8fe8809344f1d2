"""ChatClient over real HTTP against a small OpenAI-style server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dagcore import DEFAULT_CONTRACT, ChatClient, ChatError, PromptContract


class Fake:
    """Answers chat completions; fails the first `fail` requests with `status` (and a Retry-After of 0)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = 0
        self.status = 503
        self.contract: dict[str, str] | None = None


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
            elif self.path == "/v1/dagserve/contract" and state.contract is not None:
                self._send(200, state.contract)
            else:
                self._send(404, {"error": {"message": "not found", "code": "not_found"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.bodies.append(body)
            if state.fail > 0:
                state.fail -= 1
                self._send(state.status, {"error": {"message": "busy", "code": "busy"}}, {"Retry-After": "0"})
                return
            if body["max_tokens"] > 100:
                self._send(400, {"error": {"message": "max_tokens too large", "code": "invalid_request"}})
                return
            self._send(
                200,
                {
                    "model": body["model"],
                    "choices": [
                        {"message": {"role": "assistant", "content": "```python\nx = 1\n```"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                    "timings": {"ttft_ms": 12.5, "predicted_per_second": 40},
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_chat_asks_the_served_model_and_reads_the_answer(fake: tuple[Fake, str]) -> None:
    state, url = fake
    with ChatClient(url + "/v1") as client:
        answer = client.chat([{"role": "user", "content": "hi"}], max_tokens=50, seed=3, extra={"repeat_penalty": 1.1})
    assert answer.text == "```python\nx = 1\n```" and answer.finish_reason == "stop" and answer.model == "tiny"
    assert answer.usage.total_tokens == 8 and answer.server_timings == {"ttft_ms": 12.5, "predicted_per_second": 40.0}
    assert state.bodies[0]["seed"] == 3 and state.bodies[0]["repeat_penalty"] == 1.1


def test_retries_busy_answers_then_gives_up_with_the_status(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.fail = 2
    with ChatClient(url, model="m", retries=2) as client:
        assert client.chat([{"role": "user", "content": "hi"}], max_tokens=10).text
        assert len(state.bodies) == 3
        state.fail, state.status = 5, 529
        with pytest.raises(ChatError, match="529: busy") as error:
            client.chat([{"role": "user", "content": "hi"}], max_tokens=10)
    assert error.value.status == 529 and error.value.code == "busy"


def test_a_refusal_is_not_retried(fake: tuple[Fake, str]) -> None:
    state, url = fake
    with ChatClient(url, model="m") as client, pytest.raises(ChatError, match="max_tokens too large") as error:
        client.chat([{"role": "user", "content": "hi"}], max_tokens=1000)
    assert error.value.status == 400 and len(state.bodies) == 1


def test_contract_of_the_served_model_else_the_default(fake: tuple[Fake, str]) -> None:
    state, url = fake
    with ChatClient(url) as client:
        assert client.contract() == DEFAULT_CONTRACT  # a server that has none to give
    own = PromptContract(system="Only DAGs.")
    state.contract = own.model_dump()
    with ChatClient(url) as client:
        assert client.contract() == own


def test_unreachable_server_is_a_clear_error() -> None:
    client = ChatClient("http://127.0.0.1:9", model="m", retries=1, backoff=0.01)
    with client, pytest.raises(ChatError, match=r"cannot reach .* \(is the server running\?\)") as error:
        client.chat([{"role": "user", "content": "hi"}])
    assert error.value.status is None
