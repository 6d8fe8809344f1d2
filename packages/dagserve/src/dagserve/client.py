"""A typed client for dagserve (and any OpenAI-compatible server): chat, and DAG generation by the contract."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel

from dagserve.config import DEFAULT_HOST, DEFAULT_PORT
from dagserve.contract import DEFAULT_CONTRACT, PromptContract, extract_code
from dagserve.exceptions import ClientError


class Usage(BaseModel):
    """Tokens in and out, as the server counted them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Timings(BaseModel):
    """How long a generation took."""

    total_s: float
    """Wall time of the request, seen by the client."""
    ttft_ms: float | None = None
    """Time to the first token, measured by the server (dagserve only)."""
    tokens_per_s: float | None = None
    """Decoding speed after the first token, measured by the server (dagserve only)."""


class Generation(BaseModel):
    """One answer: the code found in it and everything needed to judge or repeat it."""

    code: str | None
    """The Python code of the answer (see `extract_code`); None when it holds none."""
    completion: str
    """The raw answer text."""
    finish_reason: str | None
    """`stop` (end of answer or a stop string) or `length` (cut off at max_tokens or the context)."""
    usage: Usage
    timings: Timings
    model: str
    messages: list[dict[str, str]]
    """The conversation that was sent."""


class Client:
    """`Client("http://127.0.0.1:8765")`; the base URL may end in `/v1` or not."""

    def __init__(
        self,
        base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        api_key: str | None = None,
        model: str | None = None,
        *,
        timeout: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._contract: PromptContract | None = None

    def health(self) -> dict[str, Any]:
        return dict(self._request("GET", "/health"))

    def models(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/models")["data"])

    def contract(self) -> PromptContract:
        """The prompt contract the served model was trained with (the default for models without one)."""
        if self._contract is None:
            try:
                self._contract = PromptContract.model_validate(self._request("GET", "/v1/dagserve/contract"))
            except ClientError as e:
                if e.status != 404:  # another OpenAI-compatible server: it has no contract to give
                    raise
                self._contract = DEFAULT_CONTRACT
        return self._contract

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Generation:
        """One chat completion (not streamed), with the code extracted from the answer."""
        body: dict[str, Any] = {
            "model": self._model_id(),
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        start = time.perf_counter()
        data = self._request("POST", "/v1/chat/completions", json=body)
        total = time.perf_counter() - start
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise ClientError(f"unexpected answer from {self.base_url}: {str(data)[:200]}") from e
        server = data.get("timings") or {}
        return Generation(
            code=extract_code(text),
            completion=text,
            finish_reason=choice.get("finish_reason"),
            usage=Usage.model_validate(data.get("usage") or {}),
            timings=Timings(
                total_s=total, ttft_ms=server.get("ttft_ms"), tokens_per_s=server.get("predicted_per_second")
            ),
            model=str(data.get("model") or body["model"]),
            messages=messages,
        )

    def generate_dag(
        self,
        request: str,
        airflow_version: str | None = None,
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Generation:
        """A DAG for `request`, prompted the way the served model was trained (its contract)."""
        messages = self.contract().messages(request, airflow_version)
        return self.chat(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)

    def _model_id(self) -> str:
        if self.model is None:
            models = self.models()
            self.model = str(models[0]["id"]) if models else "default"
        return self.model

    def _request(self, method: str, path: str, *, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as e:
            raise ClientError(f"cannot reach {self.base_url}: {e}") from e
        if response.status_code >= 400:
            message, code = response.text[:500], None
            try:
                error = response.json()["error"]
                message, code = error.get("message", message), error.get("code")
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            status = response.status_code
            raise ClientError(f"{method} {path}: {status}: {message}", status=status, code=code)
        try:
            return response.json()
        except ValueError as e:
            raise ClientError(f"{method} {path}: the answer is not JSON: {response.text[:200]}") from e

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
