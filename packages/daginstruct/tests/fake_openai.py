"""A local, in-process fake of an OpenAI-compatible chat-completions server (vLLM, llama.cpp, OpenAI...), for tests.

`FakeOpenAI` runs a `http.server.ThreadingHTTPServer` on 127.0.0.1 (free port) in a daemon thread::

    with FakeOpenAI(delay=0.05) as fake:
        httpx.post(f"{fake.base_url}/v1/chat/completions", json={"model": "m", "messages": [...]})
        assert fake.max_in_flight <= 4

`base_url` has no `/v1` (`api_base` is `base_url + "/v1"`, what OpenAI-style clients call their base URL).
Paths are accepted with and without the `/v1` prefix:

    POST /v1/chat/completions   non-streaming JSON (`"stream": true` gets a 400)
    GET  /v1/models             {"object": "list", "data": [{"id", "object": "model", ...}]}

Answers: text = `responder(body)` (default `default_responder`: `"Fake answer to: "` + the first 40 characters of
the last user message), `finish_reason` "stop". If the body has `max_completion_tokens` or `max_tokens` and
len(text) // 4 exceeds it, the text is cut to 4 * that many characters and `finish_reason` is "length".
usage: prompt_tokens = (characters of all message contents) // 4, completion_tokens = len(text) // 4,
total_tokens = their sum (`usage_for`).

Each chat-completions request takes `delay` seconds (injected failures included); `in_flight` is the number of
requests being handled now and `max_in_flight` the most at once, to check a client's concurrency bound.

Authentication: with `api_key` set, requests without `Authorization: Bearer <api_key>` get a 401; with
`api_key=None` (default) any or no key is accepted. With `strict_models=True` an unknown model gets a 404.

Fault injection: `fail_next(method, path_regex, status, ...)` answers the next `count` matching requests (path
without query, `re.search`) with that status and an OpenAI-style error body
`{"error": {"message", "type", "param", "code"}}`. Without `headers`, a 429 or 5xx answer carries
`retry-after-ms` (= `retry_after` seconds, in ms) and `retry-after` (whole seconds, rounded down: "0" by default,
so a client that honours it retries at once); `headers` replaces these defaults.

Recorded: `calls` [(method, path, status)], `requests` [RecordedRequest], `completions` [request body of every
successful chat completion], `in_flight`, `max_in_flight` (`reset_max_in_flight()` sets it to `in_flight`).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .local_http import LocalServer

__all__ = ["FakeOpenAI", "RecordedRequest", "default_responder", "usage_for"]

Json = dict[str, Any]
Responder = Callable[[Json], str]

ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}

_CHAT_RE = re.compile(r"^(/v1)?/chat/completions$")
_MODELS_RE = re.compile(r"^(/v1)?/models$")


def _text_of_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ""


def _prompt_text(body: Json) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "".join(_text_of_content(m.get("content")) for m in messages if isinstance(m, dict))


def usage_for(body: Json, text: str) -> Json:
    """The `usage` object the fake reports for a request body and its (possibly cut) answer text."""
    prompt_tokens, completion_tokens = len(_prompt_text(body)) // 4, len(text) // 4
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def default_responder(body: Json) -> str:
    """`"Fake answer to: "` + the first 40 characters of the last user message."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return "Fake answer to: " + _text_of_content(message.get("content"))[:40]
    return "Fake answer to: "


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str
    path_re: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str] | None
    error_type: str | None
    message: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Answers go out as two writes (head, body): without this, Nagle's algorithm and delayed ACKs add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = cast("_Server", self.server).fake
        response = fake._handle(self.command, self.path, headers, raw)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = _dispatch
    do_POST = _dispatch
    do_DELETE = _dispatch
    do_PUT = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeOpenAI(LocalServer):
    """A fake OpenAI-compatible server; see the module docstring for the behaviour."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        delay: float = 0.0,
        api_key: str | None = None,
        models: Sequence[str] = ("fake-model",),
        strict_models: bool = False,
        retry_after: float = 0.01,
    ) -> None:
        """
        responder: text of each answer from the request body (default `default_responder`).
        delay: seconds each chat-completions request takes (may be changed at runtime).
        api_key: the bearer token required; None accepts any or none.
        models: the ids `GET /v1/models` lists; strict_models: answer 404 for any other model.
        retry_after: seconds for the default `retry-after-ms` / `retry-after` headers of injected 429/5xx errors.
        """
        self.responder: Responder = responder or default_responder
        self.delay = delay
        self.api_key = api_key
        self.models = list(models)
        self.strict_models = strict_models
        self.retry_after = retry_after
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str, int]] = []
        self.requests: list[RecordedRequest] = []
        self.completions: list[Json] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: list[_Fault] = []
        self._counter = 0

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        return server

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    # ---- configuration and views -----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `count` requests matching `method` ("*" for any) and `path_regex` with `status`."""
        with self.lock:
            self._faults.append(
                _Fault(method.upper(), re.compile(path_regex), status, count, headers, error_type, message)
            )

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self.lock:
            return sum(f.remaining for f in self._faults)

    def reset_max_in_flight(self) -> None:
        with self.lock:
            self.max_in_flight = self.in_flight

    def count_calls(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self.lock:
            return sum(1 for m, p, _ in self.calls if m == method.upper() and pattern.search(p))

    # ---- request handling ------------------------------------------------------------------------------------

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> _Response:
        return _Response(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> _Response:
        default_type, default_code = ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        error = {"message": message, "type": error_type or default_type, "param": param, "code": code or default_code}
        return self._json(status, {"error": error}, headers)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.method in ("*", method) and fault.path_re.search(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: _Fault) -> _Response:
        headers = fault.headers
        if headers is None:
            headers = {}
            if fault.status == 429 or fault.status >= 500:
                headers["retry-after-ms"] = str(round(self.retry_after * 1000))
                headers["retry-after"] = str(int(self.retry_after))
        message = fault.message or f"Injected {fault.status} error"
        return self._error(fault.status, message, fault.error_type, headers=headers)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> _Response:
        split = urlsplit(raw_path)
        path = split.path
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = RecordedRequest(method, path, parse_qs(split.query), headers, body)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if method == "POST" and _CHAT_RE.match(path) and self.delay > 0:
                time.sleep(self.delay)
            fault = self._take_fault(method, path)
            response = self._fault_response(fault) if fault is not None else self._route(method, path, headers, body)
        except Exception:
            response = self._error(500, "fake server error:\n" + traceback.format_exc())
        finally:
            with self.lock:
                self.in_flight -= 1
        record.status = response.status
        with self.lock:
            self.requests.append(record)
            self.calls.append((method, path, response.status))
        return response

    def _route(self, method: str, path: str, headers: dict[str, str], body: Any) -> _Response:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided")
        if method == "POST" and _CHAT_RE.match(path):
            return self._chat(body)
        if method == "GET" and _MODELS_RE.match(path):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
            return self._json(200, {"object": "list", "data": data})
        return self._error(404, f"Not found: {method} {path}", code="not_found")

    def _chat(self, body: Any) -> _Response:
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter", param="model")
        if self.strict_models and model not in self.models:
            return self._error(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "messages: must be a non-empty array", param="messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                return self._error(400, f"messages[{index}]: role is required", param=f"messages[{index}]")
        if body.get("stream") is True:
            return self._error(400, "this fake server does not stream", param="stream")
        try:
            text = self.responder(body)
        except Exception as exc:
            return self._error(500, f"responder failed: {exc!r}")
        finish_reason = "stop"
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and len(text) // 4 > limit:
            text, finish_reason = text[: 4 * limit], "length"
        with self.lock:
            self._counter += 1
            completion_id = f"chatcmpl-fake{self._counter:020d}"
            self.completions.append(body)
        return self._json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage_for(body, text),
            },
        )
