"""A typed client for dagserve (and any OpenAI-compatible server): chat, and DAG generation by the contract.

The wire format, retries and the contract lookup are dagcore's `ChatClient`; this adds what a DAG needs: the
code out of the answer (dagcore's one rule) and the request stated by the served model's own contract.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from pydantic import BaseModel

from dagcore import AirflowVersion, ChatClient, ChatError, ChatResponse, PromptContract, Usage, extract_code
from dagserve.config import DEFAULT_HOST, DEFAULT_PORT
from dagserve.exceptions import ClientError


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
    """The Python code of the answer (`dagcore.extract_code`); None when it holds none."""
    completion: str
    """The raw answer text."""
    finish_reason: str | None
    """`stop` (end of answer or a stop string) or `length` (cut off at max_tokens or the context)."""
    usage: Usage
    timings: Timings
    model: str
    messages: list[dict[str, str]]
    """The conversation that was sent."""

    @classmethod
    def of(cls, answer: ChatResponse, messages: list[dict[str, str]]) -> Generation:
        return cls(
            code=extract_code(answer.text),
            completion=answer.text,
            finish_reason=answer.finish_reason,
            usage=answer.usage,
            timings=Timings(
                total_s=answer.seconds,
                ttft_ms=answer.server_timings.get("ttft_ms"),
                tokens_per_s=answer.server_timings.get("predicted_per_second"),
            ),
            model=answer.model,
            messages=messages,
        )


class Client:
    """`Client("http://127.0.0.1:8765")`; the base URL may end in `/v1` or not."""

    def __init__(
        self,
        base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        api_key: str | None = None,
        model: str | None = None,
        *,
        timeout: float = 600.0,
        retries: int = 2,
    ) -> None:
        self._chat = ChatClient(base_url, api_key=api_key, model=model, timeout=timeout, retries=retries)
        self.base_url = self._chat.base_url

    @property
    def chat_client(self) -> ChatClient:
        """The OpenAI-compatible client underneath (dagcore's), for loops that speak to it directly."""
        return self._chat

    def health(self) -> dict[str, Any]:
        return dict(self.call(self._chat.request, "GET", "/health"))

    def models(self) -> list[dict[str, Any]]:
        return list(self.call(self._chat.models))

    def contract(self) -> PromptContract:
        """The prompt contract the served model was trained with (the default for models without one)."""
        contract: PromptContract = self.call(self._chat.contract)
        return contract

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
        answer = self.call(
            self._chat.chat, messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop
        )
        return Generation.of(answer, messages)

    def generate_dag(
        self,
        request: str,
        airflow_version: AirflowVersion | str | None = None,
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> Generation:
        """A DAG for `request`, prompted the way the served model was trained (its contract)."""
        messages = self.contract().messages(request, airflow_version)
        return self.chat(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)

    @staticmethod
    def call(func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `func`, turning dagcore's `ChatError` into dagserve's `ClientError`."""
        try:
            return func(*args, **kwargs)
        except ChatError as e:
            raise ClientError(str(e), status=e.status, code=e.code) from e

    def close(self) -> None:
        self._chat.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
