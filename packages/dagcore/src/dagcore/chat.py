"""One client for OpenAI-compatible chat endpoints: dagserve, llama.cpp's or vLLM's server, a hosted API.

The generator of the judge, dagserve's DAG client and the instruction writer all talk through it, so there is
one place that knows the wire format, what is worth retrying and how long to wait.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel

from dagcore.contract import DEFAULT_CONTRACT, PromptContract
from dagcore.exceptions import ChatError

# Worth another try: timeouts, conflicts, rate limits, overload, a server restarting.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class Usage(BaseModel):
    """Tokens in and out, as the server counted them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(BaseModel):
    """One chat completion."""

    text: str
    """The assistant's message."""
    finish_reason: str | None
    """`stop` (end of answer or a stop string) or `length` (cut off at max_tokens or the context)."""
    usage: Usage
    model: str
    seconds: float
    """Wall time of the request as the client saw it, retries included."""
    server_timings: dict[str, float] = {}
    """What a llama.cpp-style server measured itself (`ttft_ms`, `predicted_per_second`), when it says."""


class ChatClient:
    """`ChatClient("http://127.0.0.1:8765/v1")`; the base URL may end in `/v1` or not.

    `model=None` asks the server which model it serves (its first), for single-model servers."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 600.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._contract: PromptContract | None = None

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ChatResponse:
        """One chat completion, not streamed; `extra` fields are sent as they are (e.g. `repeat_penalty`)."""
        body: dict[str, Any] = {
            "model": self.model_id(),
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        body.update(extra or {})
        start = time.perf_counter()
        data = self.request("POST", "/v1/chat/completions", json=body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise ChatError(f"{self.base_url}: not a chat completion: {str(data)[:300]}") from e
        timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
        return ChatResponse(
            text=text,
            finish_reason=choice.get("finish_reason"),
            usage=Usage.model_validate(data.get("usage") or {}),
            model=str(data.get("model") or body["model"]),
            seconds=time.perf_counter() - start,
            server_timings={k: float(v) for k, v in timings.items() if isinstance(v, int | float)},
        )

    def models(self) -> list[dict[str, Any]]:
        """`GET /v1/models`: what the server serves."""
        return list(self.request("GET", "/v1/models")["data"])

    def model_id(self) -> str:
        if self.model is None:
            try:
                found = self.models()
            except ChatError as e:
                if e.status is None:
                    raise  # unreachable: say so, do not guess a name
                found = []
            self.model = str(found[0]["id"]) if found else "default"
        return self.model

    def contract(self) -> PromptContract:
        """The prompt contract the served model was trained with: dagserve says (`/v1/dagserve/contract`);
        any other server has none to give, and its model gets the default."""
        if self._contract is None:
            try:
                self._contract = PromptContract.model_validate(self.request("GET", "/v1/dagserve/contract"))
            except ChatError as e:
                if e.status not in (404, 405, 501):  # not dagserve: no contract to give
                    raise
                self._contract = DEFAULT_CONTRACT
        return self._contract

    def request(self, method: str, path: str, *, json: Any = None) -> Any:
        """One JSON request with retries on transport errors and on `RETRY_STATUSES` (Retry-After honoured)."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, json=json)
            except httpx.HTTPError as e:
                if last:
                    raise ChatError(f"cannot reach {self.base_url}: {e} (is the server running?)") from e
                time.sleep(self._wait(None, attempt))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                time.sleep(self._wait(response, attempt))
                continue
            if response.status_code >= 400:
                raise _error(method, path, response)
            try:
                return response.json()
            except ValueError as e:
                raise ChatError(f"{method} {path}: the answer is not JSON: {response.text[:200]}") from e
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _wait(self, response: httpx.Response | None, attempt: int) -> float:
        header = response.headers.get("retry-after") if response is not None else None
        if header:
            try:
                return min(self.max_wait, max(0.0, float(header)))
            except ValueError:
                pass
        return float(min(self.max_wait, self.backoff * 2**attempt))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _error(method: str, path: str, response: httpx.Response) -> ChatError:
    message, code = response.text[:500], None
    try:
        error = response.json()["error"]
        message, code = error.get("message", message), error.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    status = response.status_code
    return ChatError(f"{method} {path}: {status}: {message}", status=status, code=code)
