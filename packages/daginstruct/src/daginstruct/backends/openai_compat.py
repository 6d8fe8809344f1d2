"""Any OpenAI-compatible chat endpoint: a local dagserve, llama.cpp's or vLLM's server, a hosted API."""

from __future__ import annotations

import os
import time

import httpx

from daginstruct.backends.base import RequestAtATime
from daginstruct.exceptions import BackendError
from daginstruct.models import InstructionRequest, Usage

_RETRY = {408, 409, 429, 500, 502, 503, 504, 529}


class OpenAICompatBackend(RequestAtATime):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_attempts: int = 3,
        max_retries: int = 4,
        timeout: float = 120.0,
        temperature: float = 0.7,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.max_retries = max_retries
        self.temperature = temperature
        key = os.environ.get(api_key_env)  # read from the environment only, never stored
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def _url(self) -> str:
        return self.base_url + ("/chat/completions" if self.base_url.endswith("/v1") else "/v1/chat/completions")

    def complete(self, request: InstructionRequest, attempt: int) -> tuple[str, Usage]:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": self.temperature if attempt == 0 else min(1.0, self.temperature + 0.2 * attempt),
        }
        for retry in range(self.max_retries + 1):
            try:
                response = self.client.post(self._url(), json=body)
            except httpx.TransportError as e:
                if retry == self.max_retries:
                    raise BackendError(f"{self._url()}: {e}") from e
                time.sleep(min(8.0, 0.5 * 2**retry))
                continue
            if response.status_code in _RETRY and retry < self.max_retries:
                time.sleep(_retry_after(response, retry))
                continue
            if response.status_code >= 400:
                raise BackendError(f"{self._url()} answered HTTP {response.status_code}: {response.text[:300]}")
            data = response.json()
            try:
                text = data["choices"][0]["message"]["content"] or ""
            except (KeyError, IndexError, TypeError) as e:
                raise BackendError(f"{self._url()}: not a chat completion: {str(data)[:300]}") from e
            usage = data.get("usage") or {}
            return text, Usage(
                input_tokens=int(usage.get("prompt_tokens", 0)), output_tokens=int(usage.get("completion_tokens", 0))
            )
        raise BackendError(f"{self._url()}: gave up after {self.max_retries} retries")


def _retry_after(response: httpx.Response, retry: int) -> float:
    header: str | None = response.headers.get("retry-after")
    if header:
        try:
            return min(60.0, max(0.0, float(header)))
        except ValueError:
            pass
    backoff: float = min(8.0, 0.5 * 2**retry)
    return backoff
