"""A local, in-process fake of Anthropic's Messages and Message Batches HTTP API, for tests.

`FakeAnthropic` runs a `http.server.ThreadingHTTPServer` on 127.0.0.1 (free port) in a daemon thread, so the
real `anthropic` SDK can talk to it over real HTTP::

    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, max_retries=2)
        batch = client.messages.batches.create(requests=[...])

Endpoints (paths, headers and JSON shapes as the SDK sends and parses them):

    POST   /v1/messages                          a synchronous Message
    POST   /v1/messages/count_tokens             {"input_tokens": n}
    POST   /v1/messages/batches                  create a batch ({"requests": [{"custom_id", "params"}]})
    GET    /v1/messages/batches                  list, newest first (limit, after_id, before_id)
    GET    /v1/messages/batches/{id}             retrieve (this is what advances the lifecycle, see below)
    POST   /v1/messages/batches/{id}/cancel      cancel
    DELETE /v1/messages/batches/{id}             delete an ended batch
    GET    /v1/messages/batches/{id}/results     the JSONL results (the batch's `results_url` once ended)

Authentication: the real API takes `x-api-key: KEY`; this SDK version (2.14) sends `Authorization: Bearer KEY`
for `api_key=`. Both are accepted; anything else (missing, or a key other than `api_key`) gets a 401
`authentication_error`. A request without an `anthropic-version` header gets a 400.

Batch lifecycle: a new batch is `in_progress`; it stays so for `polls_in_progress` retrieves (the value when the
batch was created), and the retrieve after that ends it (`processing_status="ended"`, `ended_at`, `results_url`
and the final `request_counts`). Listing does not advance a batch; `end_batch(id)` ends one at once. `cancel`
makes a batch `canceling` (with `cancel_initiated_at`); the next retrieve ends it with every request `canceled`.
Cancelling an ended batch returns it unchanged.

Outcome of each batch request, decided when the batch is created (attempt = how many times that custom_id has
been submitted in any batch so far, this one included, starting at 1):

    1. params that fail validation (model, max_tokens, messages) -> errored, `invalid_request_error`
       (the real API validates batch params asynchronously, so this is a result, not a 400)
    2. an id passed to `error_once` (not yet used up)  -> errored, `api_error`; the id is used up
    3. an id passed to `expire_once` (not yet used up) -> expired; the id is used up
    4. `outcome_for(custom_id, attempt)` if given      -> its answer
    5. otherwise                                       -> succeeded
A succeeded request whose responder raises becomes errored (`api_error`, the exception text as message).

Answer text comes from `responder(params)` (default: `default_responder`). Usage is deterministic
(`usage_for`): input_tokens = (characters of all text in `system` and `messages`) // 4, output_tokens =
len(text) // 4. `stop_reason` is "end_turn", unless len(text) // 4 exceeds `max_tokens`: then the text is cut to
4 * max_tokens characters and `stop_reason` is "max_tokens".

Fault injection: `fail_next(method, path_regex, status, ...)`: the next `count` requests whose method matches and
whose path (without query) matches `re.search(path_regex, path)` get that status with an Anthropic error body,
before authentication and without doing anything (unless `after_processing=True`: then the request is carried
out, e.g. a batch created, and the error sent instead of its answer). Without `headers`, a 429 or 5xx answer
carries `retry-after-ms` (= `retry_after` seconds in ms; the SDK reads it first and waits that long instead of its
0.5 s, 1 s, ... backoff) and `retry-after` (whole seconds, rounded down: "0" by default; the SDK ignores 0, other
clients retry at once); `headers` replaces these defaults.

Recorded for assertions (read them while no request is running, or under `fake.lock`):
    calls      [(method, path, status)] of every request, path without query string
    requests   [RecordedRequest] (method, path, query, headers, json body, status)
    submitted  [(batch_id, custom_id)] of every request in every batch created
    attempts   {custom_id: times submitted}
    batches    {batch_id: FakeBatch}
    message_requests  [params] of every successful POST /v1/messages
"""

from __future__ import annotations

import json
import re
import socket
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

from .local_http import LocalServer

__all__ = [
    "CUSTOM_ID_RE",
    "DEFAULT_API_KEY",
    "FakeAnthropic",
    "FakeBatch",
    "Outcome",
    "RecordedRequest",
    "default_responder",
    "text_of_params",
    "usage_for",
    "validate_message_params",
]

Json = dict[str, Any]
Outcome = Literal["succeeded", "errored", "expired", "canceled"]
Responder = Callable[[Json], str]
OutcomeFor = Callable[[str, int], Outcome]

DEFAULT_API_KEY = "test-key"
CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _text_of_content(content: Any) -> str:
    """The text in a `system` value or a message's `content`: a string, or a list of blocks with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return ""


def text_of_params(params: Json) -> str:
    """All text of a request's `system` and `messages`, concatenated (what `usage_for` counts)."""
    text = _text_of_content(params.get("system"))
    messages = params.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                text += _text_of_content(message.get("content"))
    return text


def usage_for(params: Json, text: str) -> tuple[int, int]:
    """(input_tokens, output_tokens) the fake reports: characters // 4 of the prompt text and of the answer."""
    return len(text_of_params(params)) // 4, len(text) // 4


def _last_user_text(params: Json) -> str:
    messages = params.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of_content(message.get("content"))
    return ""


def default_responder(params: Json) -> str:
    """`"Fake answer to: "` + the first 40 characters of the last user message."""
    return "Fake answer to: " + _last_user_text(params)[:40]


def _error_body(error_type: str, message: str, request_id: str | None = None) -> Json:
    body: Json = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def validate_message_params(params: Any) -> str | None:
    """The complaint about a Messages request body, or None if it is acceptable."""
    if not isinstance(params, dict):
        return "params: Input should be an object"
    model = params.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    max_tokens = params.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required (an integer >= 1)"
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (a non-empty list)"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.{index}.content: Field required"
    if params.get("stream") is True:
        return "stream: batch and fake requests cannot stream"
    return None


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
    after_processing: bool


@dataclass
class _Planned:
    custom_id: str
    params: Json
    outcome: Outcome
    error: Json | None = None  # the inner error object of an errored result


@dataclass
class FakeBatch:
    """One batch as the fake keeps it. `requests` are the submitted `{"custom_id", "params"}` objects."""

    id: str
    requests: list[Json]
    planned: list[_Planned]
    created_at: datetime
    polls_left: int
    processing_status: Literal["in_progress", "canceling", "ended"] = "in_progress"
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    retrieves: int = 0
    results: list[Json] = field(default_factory=list)

    @property
    def custom_ids(self) -> list[str]:
        return [str(r["custom_id"]) for r in self.requests]

    def request_counts(self) -> dict[str, int]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if self.processing_status != "ended":
            counts["processing"] = len(self.requests)
            return counts
        for result in self.results:
            counts[str(result["result"]["type"])] += 1
        return counts

    def to_json(self, base_url: str) -> Json:
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": self.request_counts(),
            "created_at": _rfc3339(self.created_at),
            "expires_at": _rfc3339(self.created_at + timedelta(hours=24)),
            "ended_at": _rfc3339(self.ended_at),
            "cancel_initiated_at": _rfc3339(self.cancel_initiated_at),
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeAnthropic


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
    do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


_BATCH_RE = re.compile(r"^/v1/messages/batches/(?P<id>[^/]+)(?P<rest>/cancel|/results)?$")


class FakeAnthropic(LocalServer):
    """A fake Anthropic API server; see the module docstring for the behaviour."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        outcome_for: OutcomeFor | None = None,
        polls_in_progress: int = 1,
        api_key: str | None = DEFAULT_API_KEY,
        retry_after: float = 0.01,
        reverse_results: bool = False,
    ) -> None:
        """
        responder: text of each answer from the request params (default `default_responder`).
        outcome_for: `(custom_id, attempt) -> outcome` for batch requests (default: all succeed).
        polls_in_progress: retrieves a new batch stays `in_progress` for (may be changed at runtime).
        api_key: the only key accepted; None accepts any non-empty key.
        retry_after: seconds for the default `retry-after-ms` / `retry-after` headers of injected 429/5xx errors.
        reverse_results: write the results JSONL in reverse order of submission (order is not guaranteed).
        """
        self.responder: Responder = responder or default_responder
        self.outcome_for: OutcomeFor | None = outcome_for
        self.polls_in_progress = polls_in_progress
        self.api_key = api_key
        self.retry_after = retry_after
        self.reverse_results = reverse_results
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str, int]] = []
        self.requests: list[RecordedRequest] = []
        self.submitted: list[tuple[str, str]] = []
        self.attempts: dict[str, int] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.message_requests: list[Json] = []
        self._faults: list[_Fault] = []
        self._error_once: set[str] = set()
        self._expire_once: set[str] = set()
        self._counters: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        return server

    # ---- configuration ---------------------------------------------------------------------------------------

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
        after_processing: bool = False,
    ) -> None:
        """Answer the next `count` requests matching `method` ("*" for any) and `path_regex` with `status`."""
        with self.lock:
            self._faults.append(
                _Fault(
                    method=method.upper(),
                    path_re=re.compile(path_regex),
                    status=status,
                    remaining=count,
                    headers=headers,
                    error_type=error_type,
                    message=message,
                    after_processing=after_processing,
                )
            )

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many injected failures are still to be served."""
        with self.lock:
            return sum(f.remaining for f in self._faults)

    def error_once(self, custom_ids: Iterable[str]) -> None:
        """The next submission of each of these custom_ids gets an errored (`api_error`) result; later ones don't."""
        with self.lock:
            self._error_once.update(custom_ids)

    def expire_once(self, custom_ids: Iterable[str]) -> None:
        """The next submission of each of these custom_ids gets an expired result; later ones don't."""
        with self.lock:
            self._expire_once.update(custom_ids)

    def end_batch(self, batch_id: str) -> None:
        """End a batch now, as if its last in-progress retrieve had happened."""
        with self.lock:
            self._end(self.batches[batch_id])

    # ---- views for assertions --------------------------------------------------------------------------------

    def submitted_ids(self) -> list[str]:
        with self.lock:
            return [custom_id for _, custom_id in self.submitted]

    def count_calls(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self.lock:
            return sum(1 for m, p, _ in self.calls if m == method.upper() and pattern.search(p))

    # ---- request handling ------------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self.lock:
            n = self._counters[prefix] = self._counters.get(prefix, 0) + 1
            return f"{prefix}{n:020d}"

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> _Response:
        return _Response(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, message: str, error_type: str | None = None) -> _Response:
        return self._json(status, _error_body(error_type or ERROR_TYPES.get(status, "api_error"), message))

    def _fault_response(self, fault: _Fault) -> _Response:
        headers = fault.headers
        if headers is None:
            headers = {}
            if fault.status == 429 or fault.status >= 500:
                headers["retry-after-ms"] = str(round(self.retry_after * 1000))
                headers["retry-after"] = str(int(self.retry_after))
        error_type = fault.error_type or ERROR_TYPES.get(fault.status, "api_error")
        message = fault.message or f"Injected {fault.status} {error_type}"
        return self._json(fault.status, _error_body(error_type, message), headers)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.method in ("*", method) and fault.path_re.search(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> _Response:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = RecordedRequest(method=method, path=path, query=query, headers=headers, body=body)
        request_id = self._next_id("req_fake")
        try:
            fault = self._take_fault(method, path)
            if fault is not None and not fault.after_processing:
                response = self._fault_response(fault)
            else:
                response = self._route(method, path, query, headers, raw, body)
                if fault is not None:
                    response = self._fault_response(fault)
        except Exception:
            response = self._error(500, "fake server error:\n" + traceback.format_exc())
        response.headers.setdefault("request-id", request_id)
        record.status = response.status
        with self.lock:
            self.requests.append(record)
            self.calls.append((method, path, response.status))
        return response

    def _authenticate(self, headers: dict[str, str]) -> _Response | None:
        key = headers.get("x-api-key")
        if not key:
            authorization = headers.get("authorization", "")
            if authorization.lower().startswith("bearer "):
                key = authorization[7:].strip()
        if not key:
            return self._error(401, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return self._error(401, "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        return None

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes, body: Any
    ) -> _Response:
        denied = self._authenticate(headers)
        if denied is not None:
            return denied
        if method == "POST" and path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches"):
            if not isinstance(body, dict):
                return self._error(400, "The request body is not valid JSON" if raw else "Request body is required")
            if path == "/v1/messages":
                return self._create_message(body)
            if path == "/v1/messages/count_tokens":
                return self._count_tokens(body)
            return self._create_batch(body)
        if method == "GET" and path == "/v1/messages/batches":
            return self._list_batches(query)
        match = _BATCH_RE.match(path)
        if match is not None:
            batch_id, rest = match.group("id"), match.group("rest")
            with self.lock:
                batch = self.batches.get(batch_id)
                if batch is None:
                    return self._error(404, f"message batch {batch_id!r} not found")
                if method == "GET" and rest is None:
                    return self._retrieve(batch)
                if method == "GET" and rest == "/results":
                    return self._results(batch)
                if method == "POST" and rest == "/cancel":
                    return self._cancel(batch)
                if method == "DELETE" and rest is None:
                    return self._delete(batch)
        return self._error(404, f"Not found: {method} {path}")

    # ---- messages --------------------------------------------------------------------------------------------

    def _message(self, params: Json, text: str, service_tier: str) -> Json:
        stop_reason = "end_turn"
        max_tokens = int(params["max_tokens"])
        if len(text) // 4 > max_tokens:
            text, stop_reason = text[: 4 * max_tokens], "max_tokens"
        input_tokens, output_tokens = usage_for(params, text)
        return {
            "id": self._next_id("msg_fake"),
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": service_tier,
            },
        }

    def _create_message(self, params: Json) -> _Response:
        complaint = validate_message_params(params)
        if complaint is not None:
            return self._error(400, complaint)
        try:
            text = self.responder(params)
        except Exception as exc:
            return self._error(500, f"responder failed: {exc!r}")
        with self.lock:
            self.message_requests.append(params)
        return self._json(200, self._message(params, text, "standard"))

    def _count_tokens(self, params: Json) -> _Response:
        return self._json(200, {"input_tokens": len(text_of_params(params)) // 4})

    # ---- batches ---------------------------------------------------------------------------------------------

    def _create_batch(self, body: Json) -> _Response:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, "requests: Field required (a non-empty list)")
        if len(requests) > MAX_BATCH_REQUESTS:
            return self._error(400, f"requests: at most {MAX_BATCH_REQUESTS} requests in one batch")
        seen: set[str] = set()
        for index, request in enumerate(requests):
            if not isinstance(request, dict) or "params" not in request:
                return self._error(400, f"requests.{index}: custom_id and params are required")
            custom_id = request.get("custom_id")
            if not isinstance(custom_id, str) or not CUSTOM_ID_RE.match(custom_id):
                return self._error(
                    400, f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
            if custom_id in seen:
                return self._error(
                    400, f"requests.{index}.custom_id: Duplicate custom_id {custom_id!r}; custom_ids must be unique"
                )
            seen.add(custom_id)
        with self.lock:
            batch_id = self._next_id("msgbatch_fake")
            planned = [self._plan(str(r["custom_id"]), r["params"]) for r in requests]
            batch = FakeBatch(
                id=batch_id,
                requests=list(requests),
                planned=planned,
                created_at=_now(),
                polls_left=self.polls_in_progress,
            )
            self.batches[batch_id] = batch
            self.submitted.extend((batch_id, str(r["custom_id"])) for r in requests)
            return self._json(200, batch.to_json(self.base_url))

    def _plan(self, custom_id: str, params: Any) -> _Planned:
        attempt = self.attempts.get(custom_id, 0) + 1
        self.attempts[custom_id] = attempt
        complaint = validate_message_params(params)
        if complaint is not None:
            return _Planned(custom_id, {}, "errored", {"type": "invalid_request_error", "message": complaint})
        if custom_id in self._error_once:
            self._error_once.discard(custom_id)
            return _Planned(custom_id, params, "errored", {"type": "api_error", "message": "Injected batch error"})
        if custom_id in self._expire_once:
            self._expire_once.discard(custom_id)
            return _Planned(custom_id, params, "expired")
        outcome: Outcome = "succeeded" if self.outcome_for is None else self.outcome_for(custom_id, attempt)
        if outcome == "errored":
            return _Planned(custom_id, params, outcome, {"type": "api_error", "message": "Injected batch error"})
        return _Planned(custom_id, params, outcome)

    def _end(self, batch: FakeBatch) -> None:
        if batch.processing_status == "ended":
            return
        canceled = batch.processing_status == "canceling"
        results: list[Json] = []
        for plan in batch.planned:
            result: Json
            if canceled or plan.outcome == "canceled":
                result = {"type": "canceled"}
            elif plan.outcome == "succeeded":
                try:
                    text = self.responder(plan.params)
                except Exception as exc:
                    result = {
                        "type": "errored",
                        "error": _error_body("api_error", f"responder failed: {exc!r}"),
                    }
                else:
                    result = {"type": "succeeded", "message": self._message(plan.params, text, "batch")}
            elif plan.outcome == "errored":
                error = plan.error or {"type": "api_error", "message": "Injected batch error"}
                result = {"type": "errored", "error": _error_body(str(error["type"]), str(error["message"]))}
            else:
                result = {"type": "expired"}
            results.append({"custom_id": plan.custom_id, "result": result})
        if self.reverse_results:
            results.reverse()
        batch.results = results
        batch.processing_status = "ended"
        batch.ended_at = _now()

    def _retrieve(self, batch: FakeBatch) -> _Response:
        batch.retrieves += 1
        if batch.processing_status == "canceling":
            self._end(batch)
        elif batch.processing_status == "in_progress":
            if batch.polls_left <= 0:
                self._end(batch)
            else:
                batch.polls_left -= 1
        return self._json(200, batch.to_json(self.base_url))

    def _cancel(self, batch: FakeBatch) -> _Response:
        if batch.processing_status == "in_progress":
            batch.processing_status = "canceling"
            batch.cancel_initiated_at = _now()
        return self._json(200, batch.to_json(self.base_url))

    def _delete(self, batch: FakeBatch) -> _Response:
        if batch.processing_status != "ended":
            return self._error(400, f"Message batch {batch.id} is still in progress; cancel it before deleting it")
        del self.batches[batch.id]
        return self._json(200, {"id": batch.id, "type": "message_batch_deleted"})

    def _results(self, batch: FakeBatch) -> _Response:
        if batch.processing_status != "ended":
            return self._error(400, f"Message batch {batch.id} has not ended; results are not available yet")
        lines = "".join(json.dumps(line) + "\n" for line in batch.results)
        return _Response(200, lines.encode(), {"Content-Type": "application/binary"})

    def _list_batches(self, query: dict[str, list[str]]) -> _Response:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        try:
            limit = int(one("limit") or 20)
        except ValueError:
            return self._error(400, "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return self._error(400, "limit: Input should be between 1 and 1000")
        after_id, before_id = one("after_id"), one("before_id")
        if after_id and before_id:
            return self._error(400, "after_id and before_id cannot both be given")
        with self.lock:
            newest_first = list(reversed(self.batches.values()))
            ids = [b.id for b in newest_first]
            if after_id is not None:
                if after_id not in ids:
                    return self._error(400, f"after_id: unknown message batch {after_id!r}")
                start = ids.index(after_id) + 1
                page = newest_first[start : start + limit]
                has_more = start + limit < len(ids)
            elif before_id is not None:
                if before_id not in ids:
                    return self._error(400, f"before_id: unknown message batch {before_id!r}")
                end = ids.index(before_id)
                start = max(0, end - limit)
                page = newest_first[start:end]
                has_more = start > 0
            else:
                page = newest_first[:limit]
                has_more = limit < len(ids)
            data = [b.to_json(self.base_url) for b in page]
        return self._json(
            200,
            {
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
        )
